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

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

/** CPU time process `pid` has used, user and system (proc(5): stat fields 14 and 15), seconds; 0 when gone. */
export function cpuSeconds(pid: number | "self" = "self"): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}
