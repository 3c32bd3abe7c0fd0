/**
 * What the VM tests that drive the real CLI share: a scratch $CORRAL_HOME whose images/ is the
 * shared image cache (so no test fetches the default image again), the CLI run in it, and the
 * check that a failure is one line on stderr without a stack trace.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { corralHome } from "../../src/image/cache.js";

export const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface ScratchHome {
  home: string;
  env: NodeJS.ProcessEnv;
  /** `corral ARGS` in this home, waited for (at most `timeoutMs`). */
  corral(args: string[], timeoutMs?: number): Run;
}

export function scratchHome(): ScratchHome {
  const home = mkdtempSync(join(tmpdir(), "corral-home-"));
  const shared = join(corralHome(), "images");
  mkdirSync(shared, { recursive: true });
  symlinkSync(shared, join(home, "images"));
  const env = { ...process.env, CORRAL_HOME: home };
  return {
    home,
    env,
    corral(args, timeoutMs = 400_000) {
      const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", env, timeout: timeoutMs });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Failed with one line on stderr matching `pattern`, and no stack trace. */
export function oneLineError(r: Run, pattern: RegExp): void {
  assert.notEqual(r.status, 0, `exit status; stderr: ${r.stderr}`);
  assert.notEqual(r.status, null, "it must not hang");
  assert.equal(r.stderr.trim().split("\n").length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
  assert.match(r.stderr.trim(), pattern);
}
