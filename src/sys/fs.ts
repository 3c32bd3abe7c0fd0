/** File system calls Node does not offer: FIFOs and mounts. Each throws a SysError on failure. */
import { SysError } from "./errno.js";
import { sys } from "./libc.js";
import { MNT_DETACH } from "./layout.js";

export function mkfifo(path: string, mode: number): void {
  const c = sys();
  if (c.mkfifo(path, mode) !== 0) throw new SysError("OCI_STATE_FAILED", `mkfifo ${path}`, c.errno());
}

export function mount(src: string | null, dst: string, type: string | null, flags: number, data: string | null): void {
  const c = sys();
  if (c.mount(src, dst, type, flags, data) !== 0)
    throw new SysError("MOUNT_FAILED", `mount ${type ?? ""} on ${dst}`, c.errno());
}

export function umount(target: string, flags = MNT_DETACH): void {
  const c = sys();
  if (c.umount2(target, flags) !== 0) throw new SysError("MOUNT_FAILED", `umount ${target}`, c.errno());
}
