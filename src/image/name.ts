/**
 * What an image in the cache may be called (store.ts): it names a directory under
 * $CORRAL_HOME/images, so no '/' and no '.' (`--output root.img` or `./x` stays a file path).
 * Apart from store.ts so that the VM spec checks names without loading the disk layer.
 */
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
