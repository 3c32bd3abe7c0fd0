// Shared pages across VMs (issue 16 item 2), with the real Debian guest and the host's real KSM:
// two VMs started with --share-memory mark their guest RAM mergeable (VmFlags "mg" in their
// process's smaps); with ksmd running, their identical pages get merged, which the host's
// pages_sharing and `corral vm memory` show. The host's KSM settings are restored afterwards.
// Runs in a scratch $CORRAL_HOME whose images/ is the shared image cache.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ksmAvailable, ksmStatus, setKsm, type KsmStatus } from "../../src/sys/ksm.js";
import { readSmaps } from "../../src/sys/smaps.js";
import { VM_FILES, vmDir } from "../../src/vm/state.js";
import { CORRAL, scratchHome, type Run } from "./scratch-home.js";

const { home, env, corral: corralIn } = scratchHome();
const VMS = [`ksm-a-${process.pid}`, `ksm-b-${process.pid}`];
const skip = !ksmAvailable() || process.getuid?.() !== 0 ? "needs root and a kernel with KSM" : false;
const corral = (args: string[]): Run => corralIn(args, 120_000);

function corralAsync(args: string[]): Promise<Run> {
  const p = spawn(process.execPath, [CORRAL, ...args], { env });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => p.on("close", (status) => resolve({ status, stdout, stderr })));
}

function daemonPid(name: string): number {
  return (JSON.parse(readFileSync(join(vmDir(name, home), VM_FILES.record), "utf8")) as { pid: number }).pid;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let saved: KsmStatus | undefined;

before(async () => {
  if (skip) return;
  saved = ksmStatus();
  const starts = await Promise.all(
    VMS.map((n) => corralAsync(["run", "-d", "--name", n, "--memory", "256M", "--share-memory"])),
  );
  for (const r of starts) assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  await Promise.all(VMS.map((n) => corralAsync(["rm", "-f", n])));
  if (saved) {
    // Split what this test merged (run=2), then put every setting back as it was.
    setKsm({ run: 2, pagesToScan: saved.pagesToScan, sleepMs: saved.sleepMs });
    if (saved.run !== 2) setKsm({ run: saved.run as 0 | 1 });
  }
  rmSync(home, { recursive: true, force: true });
});

test("--share-memory: the guest RAM's mapping is offered to KSM (VmFlags mg), and only it", { skip }, () => {
  for (const name of VMS) {
    const maps = readSmaps(daemonPid(name));
    const mergeable = maps.filter((m) => m.vmFlags.includes("mg"));
    assert.equal(mergeable.length, 1, `one mergeable mapping in ${name}'s process`);
    // 256 MiB of guest RAM exactly: the harts' area in front of it in the same wasm memory is not offered.
    assert.equal(mergeable[0]!.end - mergeable[0]!.start, 256 * 2 ** 20);
    const r = corral(["vm", "memory", name]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /share-memory on/);
  }
});

test("with KSM on, two VMs' identical pages are merged; vm memory and host ksm status show it", { skip }, async () => {
  const before = ksmStatus().pagesSharing;
  const on = corral(["host", "ksm", "on"]);
  assert.equal(on.status, 0, on.stderr);
  assert.match(on.stdout, /^ksm: running/);
  // ksmd needs a few passes over 2 x 256 MiB; poll with a generous bound (not a timing assertion).
  let sharing = before;
  let merged = 0;
  for (let i = 0; i < 120 && (sharing <= before || merged === 0); i++) {
    await sleep(1000);
    sharing = ksmStatus().pagesSharing;
    const out = corral(["vm", "memory", VMS[0]!]).stdout;
    merged = Number(/merged by KSM (\d+)M/.exec(out)?.[1] ?? 0);
  }
  assert.ok(sharing > before, `pages_sharing rose (${before} -> ${sharing})`);
  assert.ok(merged > 0, "vm memory shows merged pages");
  const status = corral(["host", "ksm", "status"]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /sharing (\d+) \(saves/);
  assert.ok(Number(/sharing (\d+)/.exec(status.stdout)![1]) > 0);
});

test("host ksm: bad input is one line and exit status 2", () => {
  for (const args of [
    ["host", "ksm", "maybe"],
    ["host", "ksm"],
    ["host", "frob"],
  ]) {
    const r = corral(args);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^corral: .*corral host --help/);
  }
  const ok = corral(["host", "ksm", "status"]);
  if (ksmAvailable()) assert.match(ok.stdout, /^ksm: (running|stopped)/);
});
