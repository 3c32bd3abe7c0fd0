/**
 * A small tmpfs for tests of a full host disk: mounted under a fresh directory, unmounted and
 * removed after the test. Needs root; returns null, having marked the test skipped, otherwise
 * or when the mount fails. Callers close their files before the test ends (the unmount).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface TestContext {
  skip(why: string): void;
  after(fn: () => void): void;
}

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
