/**
 * The host kernel's same-page merging daemon, ksmd, through its sysfs files
 * (Documentation/admin-guide/mm/ksm.rst, "KSM daemon sysfs interface"). ksmd scans only memory
 * a process offered with madvise(MADV_MERGEABLE) (src/sys/mem.ts adviseMergeable); `run` starts
 * and stops it, `pages_to_scan` and `sleep_millisecs` set how fast it scans.
 */
import { SysCallError } from "./errors.js";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errnoName } from "./errno.js";

export const KSM_SYSFS = "/sys/kernel/mm/ksm";

/** What `corral host ksm status` shows; counts are pages, `generalProfit` bytes. */
export interface KsmStatus {
  /** 0 stopped, 1 running, 2 stopped and every merged page unmerged. */
  run: number;
  pagesToScan: number;
  sleepMs: number;
  /** Distinct shared pages in use (what the merged pages now cost). */
  pagesShared: number;
  /** Further sites sharing them: how many pages merging saved. */
  pagesSharing: number;
  pagesUnshared: number;
  fullScans: number;
  /** Bytes saved, minus KSM's metadata (Linux 6.1+). */
  generalProfit: number | undefined;
}

/** The settings `corral host ksm on` writes (the kernel's defaults scan only 100 pages every 20 ms). */
export interface KsmTuning {
  run: 0 | 1 | 2;
  pagesToScan?: number;
  sleepMs?: number;
}

/** The kernel has KSM (CONFIG_KSM). */
export function ksmAvailable(root = KSM_SYSFS): boolean {
  return existsSync(join(root, "run"));
}

function unavailable(root: string): SysCallError {
  return new SysCallError("KSM_UNAVAILABLE", `this host's kernel has no KSM (no ${root}): it needs CONFIG_KSM`);
}

function num(root: string, file: string): number | undefined {
  try {
    return Number(readFileSync(join(root, file), "utf8").trim());
  } catch {
    return undefined;
  }
}

export function ksmStatus(root = KSM_SYSFS): KsmStatus {
  if (!ksmAvailable(root)) throw unavailable(root);
  const n = (f: string): number => num(root, f) ?? 0;
  return {
    run: n("run"),
    pagesToScan: n("pages_to_scan"),
    sleepMs: n("sleep_millisecs"),
    pagesShared: n("pages_shared"),
    pagesSharing: n("pages_sharing"),
    pagesUnshared: n("pages_unshared"),
    fullScans: n("full_scans"),
    generalProfit: num(root, "general_profit"),
  };
}

/** Write KSM's settings (root only): scan rate first, then `run`. */
export function setKsm(t: KsmTuning, root = KSM_SYSFS): void {
  if (!ksmAvailable(root)) throw unavailable(root);
  const put = (file: string, v: number): void => {
    try {
      writeFileSync(join(root, file), `${v}\n`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      throw new SysCallError(
        "KSM_SETTING",
        code === "EACCES" || code === "EPERM"
          ? `cannot change KSM's settings (${join(root, file)}): run as root`
          : `writing ${v} to ${join(root, file)} failed: ${code || errnoName(0)}`,
      );
    }
  };
  if (t.pagesToScan !== undefined) put("pages_to_scan", t.pagesToScan);
  if (t.sleepMs !== undefined) put("sleep_millisecs", t.sleepMs);
  put("run", t.run);
}
