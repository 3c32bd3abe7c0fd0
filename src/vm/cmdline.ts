/** Kernel command lines (Linux Documentation/admin-guide/kernel-parameters.rst). */
import type { GuestConsole } from "./spec.js";

/**
 * The default guest's kernel command line. `cryptomgr.notests` skips the crypto self-tests that
 * Debian's kernel otherwise runs at every boot (about half of the instructions before /init,
 * measured: see docs/benchmarks.md); the algorithms themselves are unchanged.
 */
export const DEFAULT_CMDLINE = "console=ttyS0 quiet cryptomgr.notests";

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
