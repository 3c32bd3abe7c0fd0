/**
 * Seccomp warnings as the user reads them. Engines' default profiles (podman's, Docker's) list
 * syscalls of every architecture (i386's `chown32`, `_llseek`, ...) and several foreign
 * architectures: each skipped name used to be a line of its own, about a hundred that buried the
 * real error in podman's message. Unknown names become one line (a count and the first few);
 * the architectures without a table become one line too. Other warnings pass unchanged.
 */
const UNKNOWN =
  /^linux\.seccomp\.syscalls\[\d+\]\.names: unknown syscall '([^']*)' skipped \(not in the (\S+) table\)$/;
const ARCH = /^linux\.seccomp\.architectures: (\S+) system calls are killed (\(.*\))$/;
const SHOWN = 6;

export function summarizeSeccompWarnings(warnings: readonly string[]): string[] {
  const names: string[] = [];
  const archs: string[] = [];
  let table = "x86_64";
  let archWhy = "";
  const out: string[] = [];
  let unknownAt = -1,
    archAt = -1;
  for (const w of warnings) {
    const u = UNKNOWN.exec(w);
    const a = u ? null : ARCH.exec(w);
    if (u) {
      if (unknownAt < 0) unknownAt = out.push("") - 1;
      names.push(u[1] ?? "");
      table = u[2] ?? table;
    } else if (a) {
      if (archAt < 0) archAt = out.push("") - 1;
      archs.push(a[1] ?? "");
      archWhy = a[2] ?? "";
    } else out.push(w);
  }
  if (unknownAt >= 0) {
    out[unknownAt] =
      names.length === 1
        ? `linux.seccomp.syscalls: unknown syscall '${names[0] ?? ""}' skipped (not in the ${table} table)`
        : `linux.seccomp.syscalls: ${names.length} syscall names not in the ${table} table skipped (${names.slice(0, SHOWN).join(", ")}${names.length > SHOWN ? `, and ${names.length - SHOWN} more` : ""}); other architectures' calls, harmless`;
  }
  if (archAt >= 0) out[archAt] = `linux.seccomp.architectures: ${archs.join(", ")} system calls are killed ${archWhy}`;
  return out;
}
