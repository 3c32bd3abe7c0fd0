/**
 * `corral image build`: an ext4 root disk of the default guest, so a VM can boot with
 * `root=/dev/vda` and keep what it writes. The disk holds the same tree as the initramfs (busybox,
 * /init, the modules); the initramfs still boots first, loads virtio_blk and ext4, mounts the disk
 * and switches to it (see the root switch in init-script.ts). Built with e2fsprogs' `mke2fs -d`,
 * which copies a directory into a new file system without mounting anything.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { readCpio } from "../formats/cpio.js";
import { recordRaw } from "../disk/record.js";
import { ImageError } from "./errors.js";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Unpack a newc archive into `dir`: directories, files and symlinks (device nodes are left to devtmpfs). */
export function unpackTree(cpio: Uint8Array, dir: string): void {
  for (const e of readCpio(cpio)) {
    const path = join(dir, e.name);
    if (!path.startsWith(dir + "/")) continue;
    const type = e.mode & S_IFMT;
    if (type === S_IFDIR) {
      mkdirSync(path, { recursive: true });
      chmodSync(path, e.mode & 0o7777);
    } else if (type === S_IFREG) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, e.data);
      chmodSync(path, e.mode & 0o7777);
    } else if (type === S_IFLNK) {
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(new TextDecoder().decode(e.data), path);
    }
  }
}

export interface RootDiskOptions {
  /** The initramfs whose tree goes on the disk. */
  initramfs: string;
  output: string;
  /** Disk size in bytes. */
  size: number;
}

/** Build the disk image atomically: a failure leaves neither a partial image nor the staging tree. */
export function buildRootDisk(o: RootDiskOptions): void {
  if (existsSync(o.output))
    throw new ImageError("DISK_EXISTS", `${o.output} already exists: remove it or choose another --output`, {
      exitCode: 2,
    });
  const stage = mkdtempSync(join(dirname(o.output), ".corral-rootdisk-"));
  const tmpImage = join(stage, "disk.img");
  try {
    const tree = join(stage, "root");
    mkdirSync(tree);
    unpackTree(new Uint8Array(readFileSync(o.initramfs)), tree);
    makeExt4(tree, tmpImage, o.size);
    renameSync(tmpImage, o.output);
    // Corral's record that this is a raw image (disk/record.ts): no guest-written
    // overlay header in it will ever be taken for one.
    recordRaw(o.output);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * An ext4 file system of `size` bytes in the new file `image`, holding the tree `dir` (mke2fs -d,
 * no mount). The file is new, so sparse and all zeros: assume_storage_prezeroed (mke2fs(8),
 * e2fsprogs 1.47) marks the inode tables zeroed, and the guest's kernel does not spend its first
 * boots zeroing them (ext4lazyinit: 128 MiB of writes for a 2 GiB disk).
 */
export function makeExt4(dir: string, image: string, size: number): void {
  try {
    execFileSync(
      "mke2fs",
      [
        "-q",
        "-F",
        "-t",
        "ext4",
        "-E",
        "assume_storage_prezeroed=1",
        "-L",
        "corral-root",
        "-d",
        dir,
        image,
        `${Math.floor(size / 1024)}k`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT")
      throw new ImageError("NO_MKE2FS", "mke2fs was not found: install e2fsprogs (apt-get install e2fsprogs)");
    throw new ImageError(
      "MKE2FS_FAILED",
      `mke2fs failed: ${
        String(err.stderr ?? err.message)
          .trim()
          .split("\n")[0]
      } (is --size large enough?)`,
    );
  }
}
