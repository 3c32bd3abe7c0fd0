import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { busyboxRootfs } from "./busybox.js";
import { ContainerError } from "../errors.js";

/**
 * Images for `corral container`: a directory is used in place; a rootfs tarball (from
 * debootstrap, `tar -C rootfs -c .`, ...) is unpacked once under <state>/images/<key>; the name
 * "busybox" is built from the host's busybox-static. Every container then mounts an overlay on
 * top of that one read-only copy, so a hundred containers share it on disk and in the page cache.
 */
export function stateDir(): string {
  // Like the network module's state (net/index.ts netStateDir): under $CORRAL_HOME when it is set,
  // else system-wide; CORRAL_STATE_DIR overrides both.
  const explicit = process.env["CORRAL_STATE_DIR"];
  if (explicit) return explicit;
  const home = process.env["CORRAL_HOME"];
  return home ? join(home, "containers") : "/var/lib/corral";
}

export function resolveImage(image: string): string {
  const images = join(stateDir(), "images");
  if (image === "busybox" && !existsSync(image)) {
    const dir = join(images, "busybox");
    if (!existsSync(join(dir, "bin", "busybox"))) unpackInto(dir, (tmp) => busyboxRootfs(tmp));
    return dir;
  }
  const abs = resolve(image);
  if (!existsSync(abs))
    throw new ContainerError(
      "IMAGE_NOT_FOUND",
      `image ${abs} does not exist; give a root filesystem directory, a rootfs tarball or 'busybox'`,
    );
  const st = statSync(abs);
  if (st.isDirectory()) return abs;
  // Same file, same size and time: same image. Unpacked once.
  const key = createHash("sha256").update(`${abs}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 16);
  const dir = join(images, key);
  if (!existsSync(dir)) {
    unpackInto(dir, (tmp) => {
      try {
        execFileSync("tar", ["-x", "-f", abs, "-C", tmp, "--numeric-owner"], { stdio: ["ignore", "ignore", "pipe"] });
      } catch (e) {
        throw new ContainerError(
          "IMAGE_UNPACK_FAILED",
          `cannot unpack ${abs} as a tar archive; give a rootfs tarball or a directory`,
          { cause: e },
        );
      }
    });
  }
  return dir;
}

/** Build into a temporary directory and rename, so a half-unpacked image is never used. */
function unpackInto(dir: string, build: (tmp: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  try {
    build(tmp);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(dir)) return;
    throw e;
  }
}
