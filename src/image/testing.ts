/**
 * For tests: the default image, shared by every test file that needs one, so a test run
 * downloads it at most once. It lives where users keep it ($CORRAL_HOME, else ~/.cache/corral);
 * CI keeps that directory between runs. Only src/image/pull.test.ts pulls into a private home.
 */
import { ensureDefaultImage, type ImagePaths } from "./pull.js";

let shared: Promise<ImagePaths> | undefined;

export function sharedImage(): Promise<ImagePaths> {
  shared ??= ensureDefaultImage();
  return shared;
}
