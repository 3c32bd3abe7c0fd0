import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, makeScratch, sweepStale } from "./staging.js";

const stagingModule = new URL("./staging.js", import.meta.url).href;

function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "corral-staging-"));
  return fn(root).finally(() => rmSync(root, { recursive: true, force: true }));
}

/** Run a node child that makes a scratch dir, reports it, and waits to be killed. */
function childWithScratch(root: string, signal: NodeJS.Signals): Promise<{ dir: string; signal: string | null }> {
  const code = `import { makeScratch } from ${JSON.stringify(stagingModule)};
const s = makeScratch(${JSON.stringify(root)}, "pull");
console.log(s.dir);
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let dir = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      dir += d;
      if (dir.endsWith("\n")) {
        assert.ok(existsSync(dir.trim()));
        child.kill(signal);
      }
    });
    child.on("error", reject);
    child.on("close", (_code, sig) => resolve({ dir: dir.trim(), signal: sig }));
  });
}

test("an interrupted process removes its scratch directory and still dies of the signal", () =>
  withRoot(async (root) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const r = await childWithScratch(root, sig);
      assert.equal(r.signal, sig);
      assert.ok(!existsSync(r.dir), `${r.dir} removed after ${sig}`);
    }
  }));

test("a SIGKILLed process's scratch is swept by the next run; live ones are kept", () =>
  withRoot(async (root) => {
    const r = await childWithScratch(root, "SIGKILL");
    assert.ok(existsSync(r.dir), "SIGKILL cannot be caught");
    const mine = makeScratch(root, "pull");
    sweepStale(root, "pull");
    assert.deepEqual(readdirSync(root), [mine.dir.slice(root.length + 1)]);
    mine.dispose();
    assert.deepEqual(readdirSync(root), []);
  }));

test("a lock left by a dead process is taken over; a live holder is waited for", () =>
  withRoot(async (root) => {
    mkdirSync(join(root, "d"));
    const lock = join(root, "d", ".lock");
    const r = await childWithScratch(root, "SIGKILL"); // a pid that is now dead
    const pid = Number(/pull-(\d+)-/.exec(r.dir)?.[1]);
    writeFileSync(lock, `${pid}\n`);
    const release = await acquireLock(lock, "test");
    const second = acquireLock(lock, "test", 60_000);
    let got = false;
    void second.then(() => (got = true));
    await new Promise((res) => setTimeout(res, 700));
    assert.equal(got, false, "waits while we hold it");
    release();
    (await second)();
    assert.ok(!existsSync(lock));
  }));
