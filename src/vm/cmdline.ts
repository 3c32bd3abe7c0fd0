/** Kernel command lines (Linux Documentation/admin-guide/kernel-parameters.rst). */

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
