/**
 * Builds a small C test helper with the host's gcc in a private temporary directory.
 * Tests use these helpers to check Corral's byte-level output (seccomp filters, capability masks)
 * against the real kernel; the directory is removed by `cleanup()`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CProgram {
  /** Path of the executable. */
  exe: string;
  /** The private directory; tests may put input files here. */
  dir: string;
  cleanup(): void;
}

/** `flags` go to gcc as well, e.g. ["-static"] for a program that runs inside a bare rootfs. */
export function compileC(name: string, source: string, flags: string[] = []): CProgram {
  const dir = mkdtempSync(join(tmpdir(), `corral-${name}-`));
  const src = join(dir, `${name}.c`);
  const exe = join(dir, name);
  writeFileSync(src, source);
  const r = spawnSync("gcc", ["-O0", "-Wall", "-Werror", ...flags, "-o", exe, src], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`gcc failed for ${name}: ${r.error?.message ?? r.stderr}`);
  }
  return { exe, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
