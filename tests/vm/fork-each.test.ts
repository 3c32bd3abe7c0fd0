// Vm.forkEach with real guests (issue 16 item 6), in a scratch $CORRAL_HOME: clones are handed over
// one by one as each runs, each answering at once; a first command sent with a warm pool process's
// claim (src/vm/first-exec.ts) runs in the clone with its own hostname and the host's clock, and
// its output limit holds; what one clone writes never appears in another or in the parent. Bad
// input (count 0, more clones than free memory, a VM not running) is refused before anything
// starts; a clone that fails to start mid-stream leaves nothing behind while the clone already
// handed over and the parent run on; leaving the loop early stops the clones not handed over.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { freemem } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Corral, type Vm } from "../../src/api/index.js";
import { daemonNodeFlags } from "../../src/vm/launch.js";
import { poolMembers, startPool, stopPool } from "../../src/vm/pool.js";
import { isCorralError } from "../../src/errors.js";
import { ExecOutputLimitError } from "../../src/api/errors.js";
import { scratchHome } from "./scratch-home.js";

const h = scratchHome();
process.env["CORRAL_HOME"] = h.home;
const NAME = `t-forkeach-${process.pid}`;
/** 1 GiB, so that a count the host's free memory cannot hold is below the most clones a fork makes (64). */
const MEMORY = 2 ** 30;
const CLOCK_2001 = 1_000_000_000;
const snap = join(h.home, "snap");
let parent: Vm;
const vms: Vm[] = [];

const vmNames = (): string[] => readdirSync(join(h.home, "vms")).filter((n) => n.startsWith(NAME));
/** Fork snapshot directories of this parent left on tmpfs (src/snapshot/fork.ts). */
const forkDirs = (): string[] => readdirSync("/dev/shm").filter((n) => n.startsWith(`corral-fork-${NAME}-`));
const pidOf = (name: string): number =>
  (JSON.parse(readFileSync(join(h.home, "vms", name, "vm.json"), "utf8")) as { pid: number }).pid;

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec(["sh", "-c", script]);
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

/** Wait until `n` pool processes are warm and waiting (a guard against hanging, not a timing test). */
async function poolReady(n: number): Promise<Set<number>> {
  for (let i = 0; i < 1200 && poolMembers().filter((m) => m.ready).length < n; i++)
    await new Promise((r) => setTimeout(r, 250));
  const ready = poolMembers().filter((m) => m.ready);
  assert.ok(ready.length >= n, `${n} warm pool processes, ${ready.length} ready`);
  return new Set(ready.map((m) => m.pid));
}

/** Rejects with a CorralError of `code`. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isCorralError(e) && e.code === code);
}

before(async () => {
  parent = await Corral.start({ name: NAME, memory: MEMORY });
  vms.push(parent);
  await sh(parent, "echo parent > /tmp/mark");
  await parent.snapshot(snap);
});

after(async () => {
  await stopPool();
  for (const vm of vms.reverse()) await vm.stop({ timeoutMs: 2000 }).catch(() => {});
  if (vmNames().length > 0) h.corral(["rm", "--force", ...vmNames()]);
  rmSync(h.home, { recursive: true, force: true });
});

test("forkEach hands each clone over as it runs; its first command, sent with the claim, runs in it; writes stay apart", async () => {
  startPool({ size: 2, warm: snap }, daemonNodeFlags());
  const poolPids = await poolReady(2);
  // The parent's clock set back to 2001: a first command that ran before its clone's T frame
  // would print 2001 and the parent's hostname.
  await sh(parent, `date -s @${CLOCK_2001} >/dev/null`);
  const got: { vm: Vm; own: string }[] = [];
  const first = {
    argv: ["sh", "-c", "hostname; date +%s; head -c 8 /dev/urandom | od -An -tx1 | tr -d ' ' > /tmp/own; cat /tmp/own"],
  };
  for await (const c of parent.forkEach({ count: 2, first })) {
    vms.push(c.vm);
    // Handed over while the fork goes on: it answers now, before the next clone is asked for.
    const r = await c.first!;
    assert.equal(r.exitCode, 0, r.stderr);
    const [host, clock, own] = r.stdout.trim().split("\n") as [string, string, string];
    assert.equal(host, c.vm.name);
    assert.ok(Math.abs(Number(clock) - Date.now() / 1000) < 60, `${c.vm.name}'s clock ${clock} at its first command`);
    assert.ok(
      poolPids.has(pidOf(c.vm.name)),
      `clone ${c.vm.name} runs in a pool process (its claim carried the command)`,
    );
    assert.equal(await sh(c.vm, "cat /tmp/mark"), "parent");
    got.push({ vm: c.vm, own });
  }
  assert.equal(got.length, 2);
  const [a, b] = got as [(typeof got)[0], (typeof got)[0]];
  assert.notEqual(a.vm.name, b.vm.name);
  assert.notEqual(a.own, b.own);
  // Each clone's first-command write is its own; the parent never saw one; later writes stay apart.
  assert.equal(await sh(a.vm, "cat /tmp/own"), a.own);
  assert.equal(await sh(b.vm, "cat /tmp/own"), b.own);
  assert.equal(await sh(parent, "cat /tmp/own 2>/dev/null || echo none"), "none");
  await sh(a.vm, "echo clone-a > /tmp/mark");
  assert.equal(await sh(b.vm, "cat /tmp/mark"), "parent");
  assert.equal(await sh(parent, "cat /tmp/mark"), "parent");
  assert.equal(forkDirs().length, 0, "the fork's snapshot directory is removed");
  // The pool refills once each first command's outcome is in (launch.ts): two new processes.
  const refilled = poolMembers().map((m) => m.pid);
  assert.equal(refilled.length, 2, `the pool refilled to its size: ${refilled.join(", ")}`);
  for (const p of refilled) assert.ok(!poolPids.has(p), `pool process ${p} is a new one`);
  for (const { vm } of got) await vm.stop();
  await stopPool();
});

test("a clone that fails mid-stream leaves nothing behind; the clone handed over and the parent run on", async () => {
  startPool({ size: 1, warm: snap }, daemonNodeFlags());
  await poolReady(1);
  const before = new Set(vmNames());
  // One clone takes the pool process; the other starts a VM process of its own, whose Node
  // refuses the flag and ends at once (VM_START_FAILED). The pool's refill fails the same way.
  const flags = process.env["CORRAL_VM_NODE_FLAGS"];
  process.env["CORRAL_VM_NODE_FLAGS"] = "--corral-no-such-flag";
  const got: Vm[] = [];
  let failure: unknown;
  try {
    // The first command also writes past its output limit: it is killed, the error keeps what fit.
    const first = { argv: ["sh", "-c", "hostname; head -c 100000 /dev/zero"], maxOutputBytes: 1000 };
    for await (const c of parent.forkEach({ count: 2, first })) {
      vms.push(c.vm);
      got.push(c.vm);
      await assert.rejects(c.first!, (e: unknown) => {
        assert.ok(e instanceof ExecOutputLimitError, String(e));
        assert.equal(e.stream, "stdout");
        assert.equal(e.partial.stdout.length, 1000);
        assert.ok(e.partial.stdout.toString("latin1").startsWith(`${c.vm.name}\n`));
        return true;
      });
    }
  } catch (e) {
    failure = e;
  } finally {
    if (flags === undefined) delete process.env["CORRAL_VM_NODE_FLAGS"];
    else process.env["CORRAL_VM_NODE_FLAGS"] = flags;
  }
  assert.ok(isCorralError(failure) && failure.code === "VM_START_FAILED", String(failure));
  assert.equal(got.length, 1, "the clone that ran was handed over before the failure");
  const [ok] = got as [Vm];
  assert.deepEqual(
    vmNames().filter((n) => !before.has(n)),
    [ok.name],
    "only the clone that runs has a directory",
  );
  assert.equal(forkDirs().length, 0, "the fork's snapshot directory is removed");
  assert.equal(await sh(ok, "hostname"), ok.name);
  assert.equal(await sh(parent, "cat /tmp/mark"), "parent");
  await ok.stop();
  await stopPool();
});

test("leaving forkEach early stops and removes the clones not handed over", async () => {
  const before = new Set(vmNames());
  let kept: Vm | undefined;
  for await (const c of parent.forkEach({ count: 2 })) {
    kept = c.vm;
    vms.push(c.vm);
    break;
  }
  assert.ok(kept);
  assert.equal(await sh(kept, "hostname"), kept.name);
  assert.deepEqual(
    vmNames().filter((n) => !before.has(n)),
    [kept.name],
    "the clone not handed over is gone",
  );
  assert.equal(forkDirs().length, 0);
  await kept.stop();
  // A VM that is not running (the clone, stopped): refused at the first step, nothing made.
  const none = new Set(vmNames());
  await rejectsWith(kept.forkEach({ count: 1 }).next(), "VM_NOT_RUNNING");
  assert.deepEqual(new Set(vmNames()), none);
});

test("forkEach: count 0, or more clones than free memory holds: refused before anything starts", async () => {
  const before = new Set(vmNames());
  await rejectsWith(parent.forkEach({ count: 0 }).next(), "BAD_FORK_COUNT");
  // Twice what free memory holds (as if each clone wrote all its pages), within the 64 a fork makes.
  const count = 2 * Math.ceil(freemem() / MEMORY);
  if (count <= 64) await rejectsWith(parent.forkEach({ count }).next(), "FORK_NO_MEMORY");
  await rejectsWith(parent.forkEach({ count: 1, first: { argv: [] } }).next(), "BAD_OPTION");
  assert.deepEqual(new Set(vmNames()), before);
  assert.equal(forkDirs().length, 0);
  assert.equal(existsSync(join(h.home, "pool", "pool.json")), false);
});
