/** This process as the host sees it: subreaping (prctl(2)) and resident memory (proc(5)). */
import { readFileSync } from "node:fs";
import { SysError } from "./errno.js";
import { sys } from "./libc.js";
import { PR_SET_CHILD_SUBREAPER } from "./layout.js";

/** PR_SET_CHILD_SUBREAPER: orphaned descendants are re-parented to this process (as to conmon). */
export function setChildSubreaper(on: boolean): void {
  const c = sys();
  if (c.prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) !== 0)
    throw new SysError("OCI_STATE_FAILED", "prctl(PR_SET_CHILD_SUBREAPER)", c.errno());
}

/** A process's resident memory (VmRSS in /proc/PID/status), bytes; 0 when it cannot be read. */
export function residentBytes(pid: number | "self" = "self"): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readStatus(pid));
  return m ? Number(m[1]) * 1024 : 0;
}

function readStatus(pid: number | "self"): string {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return "";
  }
}
