import { lstatSync, readlinkSync } from "node:fs";
import { posix } from "node:path";
import { ContainerError } from "../errors.js";

/**
 * Resolve `unsafe` (a path inside the container) under `root` the way the container would see
 * it: symlinks are followed but never out of `root` ("/.." stays at the root). This keeps a
 * mount destination such as /etc/x -> ../../../host from landing outside the rootfs.
 */
export function secureJoin(root: string, unsafe: string): string {
  const pending = unsafe.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() ?? "";
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = posix.join(root, ...done, part);
    let target: string | undefined;
    try {
      if (lstatSync(candidate).isSymbolicLink()) target = readlinkSync(candidate);
    } catch {
      target = undefined;
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > 255)
      throw new ContainerError("OCI_PATH_LOOP", `too many symbolic links resolving ${unsafe} in ${root}`);
    if (target.startsWith("/")) done.length = 0;
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return posix.join(root, ...done);
}
