import { createRequire } from "node:module";
import { constants } from "node:os";
import type * as Koffi from "koffi";
import { CorralError } from "../../errors.js";

/**
 * The few libc calls Node does not offer, through koffi. Nothing else in Corral's container
 * code touches the FFI: callers get these typed wrappers, which throw on failure.
 */
const require = createRequire(import.meta.url);

interface Libc {
  mkfifo: (path: string, mode: number) => number;
  mount: (src: string | null, dst: string, type: string | null, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  prctl: (option: number, a2: number, a3: number, a4: number, a5: number) => number;
}

let lib: Libc | undefined;
let koffi: typeof Koffi | undefined;

function libc(): { l: Libc; k: typeof Koffi } {
  if (!lib || !koffi) {
    koffi = require("koffi") as typeof Koffi;
    const so = koffi.load("libc.so.6");
    lib = {
      mkfifo: so.func("int mkfifo(const char *path, uint32_t mode)") as Libc["mkfifo"],
      mount: so.func("int mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)") as Libc["mount"],
      umount2: so.func("int umount2(const char *target, int flags)") as Libc["umount2"],
      prctl: so.func("int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)") as Libc["prctl"],
    };
  }
  return { l: lib, k: koffi };
}

function fail(what: string, code: string): never {
  const errno = libc().k.errno();
  const name = Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  throw new CorralError(code, `${what} failed: ${name}`);
}

export function mkfifo(path: string, mode: number): void {
  if (libc().l.mkfifo(path, mode) !== 0) fail(`mkfifo ${path}`, "OCI_STATE_FAILED");
}

export function mount(src: string | null, dst: string, type: string | null, flags: number, data: string | null): void {
  if (libc().l.mount(src, dst, type, flags, data) !== 0) fail(`mount ${type ?? ""} on ${dst}`, "MOUNT_FAILED");
}

export const MNT_DETACH = 2;

export function umount(target: string, flags = MNT_DETACH): void {
  if (libc().l.umount2(target, flags) !== 0) fail(`umount ${target}`, "MOUNT_FAILED");
}

/** prctl(2) PR_SET_CHILD_SUBREAPER: orphaned descendants are re-parented to this process (as to conmon). */
const PR_SET_CHILD_SUBREAPER = 36;

export function setChildSubreaper(on: boolean): void {
  if (libc().l.prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) !== 0) fail("prctl(PR_SET_CHILD_SUBREAPER)", "OCI_STATE_FAILED");
}
