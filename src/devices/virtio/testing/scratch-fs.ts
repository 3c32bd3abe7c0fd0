/** Directories for the disk tests, removed (and unmounted) after the test that made them. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface TestContext {
  skip(why: string): void;
  after(fn: () => void): void;
}

/** A fresh directory under the system's temporary directory, named after `name`. */
export function scratchDir(t: Pick<TestContext, "after">, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `corral-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A small tmpfs for tests of a full host disk, mounted on a scratch directory. Needs root; returns
 * null, having marked the test skipped, otherwise or when the mount fails. Callers close their
 * files before the test ends (the unmount).
 */
export function smallTmpfs(t: TestContext, size: string): string | null {
  if (process.getuid?.() !== 0) {
    t.skip("needs root to mount a small tmpfs");
    return null;
  }
  const mnt = mkdtempSync(join(tmpdir(), "corral-full-"));
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mnt]);
  t.after(() => {
    if (m.status === 0) spawnSync("umount", [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  if (m.status !== 0) {
    t.skip(`cannot mount tmpfs: ${m.stderr}`);
    return null;
  }
  return mnt;
}
