import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ContainerError } from "../errors.js";

/**
 * A minimal root filesystem from the host's static busybox (Debian's busybox-static): the
 * binary plus one symlink per applet. Used by tests and benchmarks, and as a ready image for
 * `corral container run busybox`. No network image is involved.
 */
export function busyboxRootfs(dir: string, busybox = "/bin/busybox"): string {
  if (!existsSync(busybox))
    throw new ContainerError("BUSYBOX_MISSING", `${busybox} is missing; install Debian's busybox-static package`);
  mkdirSync(join(dir, "bin"), { recursive: true });
  copyFileSync(busybox, join(dir, "bin", "busybox"));
  chmodSync(join(dir, "bin", "busybox"), 0o755);
  const applets = execFileSync(busybox, ["--list-full"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const a of applets) {
    const p = join(dir, a);
    mkdirSync(dirname(p), { recursive: true });
    if (!existsSync(p)) symlinkSync("/bin/busybox", p);
  }
  for (const d of ["proc", "sys", "dev", "etc", "tmp", "root", "var", "run"])
    mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, "tmp"), 0o1777);
  writeFileSync(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n");
  writeFileSync(join(dir, "etc", "group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  return dir;
}
