/** Kernel command lines (Linux Documentation/admin-guide/kernel-parameters.rst). */
import type { GuestConsole } from "./spec.js";

/**
 * The default guest's kernel command line. `cryptomgr.notests` skips the crypto self-tests that
 * Debian's kernel otherwise runs at every boot (about half of the instructions before /init,
 * measured: see docs/benchmarks.md); the algorithms themselves are unchanged.
 *
 * The rest keeps an idle guest asleep (issue 16 item 6: an idle VM burns < 1 % of a host core;
 * every guest timer interrupt costs the emulator a wake-up). Traced in an idle default guest
 * (tracefs, timer and workqueue events over 20 s), these took 5 of its 7 wakes a second:
 *   sysctl.vm.compaction_proactiveness=0   kcompactd's proactive-compaction check every 500 ms
 *                                          (mm/compaction.c; compaction on demand is unchanged)
 *   sysctl.vm.stat_interval=10             vmstat_shepherd every second folding per-CPU counters
 *                                          (mm/vmstat.c): every 10 s
 *   psi=0                                  the pressure-stall averages every 2 s (no PSI files)
 *   nowatchdog                             the soft-lockup watchdog every 4 s: in an emulator paused
 *                                          for snapshots or starved by the host it only cries wolf
 * (`sysctl.` parameters: Documentation/admin-guide/kernel-parameters.txt, Linux 5.8 and later.)
 */
export const DEFAULT_CMDLINE =
  "console=ttyS0 quiet cryptomgr.notests psi=0 nowatchdog sysctl.vm.stat_interval=10 sysctl.vm.compaction_proactiveness=0";

/** The default command line for a guest whose console is `console` (only console= differs). */
export function defaultCmdline(console: GuestConsole = "ttyS0"): string {
  return DEFAULT_CMDLINE.replace(/\bconsole=ttyS0\b/, `console=${console}`);
}

/** Append each `key=value` parameter unless the line already sets that key (the user's choice wins). */
export function withParams(cmdline: string, params: readonly string[]): string {
  let line = cmdline;
  for (const p of params) {
    const key = p.split("=")[0]!;
    if (new RegExp(`(^|\\s)${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}=`).test(line)) continue;
    line = `${line} ${p}`.trim();
  }
  return line;
}
