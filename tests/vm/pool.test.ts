// Warm VM processes (src/vm/pool.ts, issue 16 item 6) with a real guest, through the CLI in a
// scratch $CORRAL_HOME: a pool warmed up on a snapshot; a restore takes a pool process (the VM
// runs in it, on the machine the warm-up restored, with the snapshot's RAM swapped in), answers
// exec, and holds the snapshot's memory, not what the warm-up's guest did nor what the parent did
// after the snapshot; the pool refills; a fork takes pool processes for its clones (their RAM,
// the parent's later one, swapped into the warm machines); `corral stop` and `corral pool stop` leave no process behind; bad
// input is one line. A restore whose spec differs from the warm machine's still takes the pool
// process, which builds a fresh machine for it; a snapshot whose agent spoke protocol 4 (no T
// frame) gets its clock set by a command instead.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isPoolProcess } from "../../src/vm/pool.js";
import { parseTimings, TIMINGS_PREFIX } from "../../src/vm/phases.js";
import { oneLineError, scratchHome, type Run } from "./scratch-home.js";

const h = scratchHome();
const PARENT = `t-pool-${process.pid}`;
const snap = join(h.home, "snap");
/** A VM of another spec (less memory), its guest's clock set back to 2001 before its snapshot. */
const OTHER = `t-pool-other-${process.pid}`;
const snapOther = join(h.home, "snap-other");
const markOther = randomBytes(8).toString("hex");
const CLOCK_2001 = 1_000_000_000;
const memTotal = (name: string): number => Number(/MemTotal:\s+(\d+)/.exec(sh(name, "cat /proc/meminfo"))?.[1]);
/** The guests' MemTotal (kB) before their snapshots. */
const memOf = { parent: 0, other: 0 };
const mark = randomBytes(8).toString("hex");
/** Every pool process seen, to check that none is left at the end. */
const seen = new Map<string, number>();

function ok(r: Run): string {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function sh(name: string, script: string): string {
  return ok(h.corral(["exec", name, "--", "sh", "-c", script]));
}

/** The pool's processes: id to pid (those whose record is written). */
function members(): Map<string, number> {
  const out = new Map<string, number>();
  const dir = join(h.home, "pool");
  for (const f of readdirSync(dir)) {
    const m = /^([0-9a-f]{12})\.json$/.exec(f);
    if (!m) continue;
    try {
      const pid = (JSON.parse(readFileSync(join(dir, f), "utf8")) as { pid: number }).pid;
      out.set(m[1]!, pid);
      seen.set(m[1]!, pid);
    } catch {
      // being written
    }
  }
  return out;
}

const ready = (): string[] =>
  readdirSync(join(h.home, "pool"))
    .filter((f) => f.endsWith(".sock"))
    .map((f) => f.slice(0, -5));

/** Wait until `n` pool processes are warm and waiting (a guard against hanging, not a timing test). */
async function waitReady(n: number): Promise<void> {
  for (let i = 0; i < 1200 && ready().length < n; i++) await new Promise((r) => setTimeout(r, 250));
  assert.ok(ready().length >= n, `${n} warm pool processes (status: ${ok(h.corral(["pool", "status"]))})`);
  members();
}

const pidOf = (name: string): number =>
  (JSON.parse(readFileSync(join(h.home, "vms", name, "vm.json"), "utf8")) as { pid: number }).pid;

/**
 * The restore's phases from its console log (src/vm/phases.ts), once its first exec was answered;
 * asserts it ran on the pool process's warm machine (its RAM swapped in, no new machine built).
 */
function ranOnWarmMachine(name: string, warm = true): void {
  const line = readFileSync(join(h.home, "vms", name, "console.log"), "latin1")
    .split("\n")
    .find((l) => l.includes(TIMINGS_PREFIX));
  const phases = Object.keys(parseTimings(line ?? "") ?? {});
  assert.ok(phases.includes("first exec ended"), `${name}: timings line ${line}`);
  assert.equal(
    phases.some((p) => p.startsWith("RAM swapped into the warm machine")),
    warm,
    `${name} ${warm ? "ran" : "did not run"} on the warm machine: ${line}`,
  );
}

/** The guest's clock is the host's (within a minute), not the snapshot's 2001. */
function clockIsHosts(name: string): void {
  const guest = Number(sh(name, "date +%s"));
  assert.ok(Math.abs(guest - Date.now() / 1000) < 60, `${name}'s clock ${guest}, the host's ${Date.now() / 1000}`);
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

before(() => {
  ok(h.corral(["run", "-d", "--name", PARENT, "--memory", "256M"]));
  sh(PARENT, `echo ${mark} > /tmp/mark && hostname before-snapshot`);
  memOf.parent = memTotal(PARENT);
  ok(h.corral(["snapshot", PARENT, snap]));
  // The parent runs on and changes what the snapshot holds: no restore may see it.
  sh(PARENT, "echo after > /tmp/mark && hostname after-snapshot");
  ok(h.corral(["run", "-d", "--name", OTHER, "--memory", "192M"]));
  sh(OTHER, `echo ${markOther} > /tmp/mark && date -s @${CLOCK_2001} >/dev/null`);
  memOf.other = memTotal(OTHER);
  ok(h.corral(["snapshot", OTHER, snapOther]));
  ok(h.corral(["stop", OTHER]));
});

after(() => {
  h.corral(["pool", "stop"]);
  for (const n of readdirSync(join(h.home, "vms"))) h.corral(["stop", n]);
  rmSync(h.home, { recursive: true, force: true });
});

test("bad pool input is refused in one line, nothing started", () => {
  oneLineError(h.corral(["pool", "start", "--size", "0"]), /--size must be a whole number from 1 to 16/);
  oneLineError(h.corral(["pool", "start", "--warm", join(h.home, "nothing")]), /snapshot|manifest/i);
  oneLineError(h.corral(["pool", "shrink"]), /usage: corral pool/);
  assert.match(ok(h.corral(["pool", "status"])), /pool: 0 processes/);
});

test("a restore takes a warm pool process: exec answers, memory is the snapshot's, the pool refills", async () => {
  assert.match(ok(h.corral(["pool", "start", "--size", "1", "--warm", snap])), /pool: 1 process/);
  await waitReady(1);
  const [[id, poolPid]] = [...members()] as [[string, number]];
  ok(h.corral(["restore", snap, "--name", `${PARENT}-r`]));
  // The VM runs in the pool process, which no longer counts as a pool process.
  assert.equal(pidOf(`${PARENT}-r`), poolPid);
  assert.equal(isPoolProcess(poolPid, id), false);
  assert.equal(sh(`${PARENT}-r`, "cat /tmp/mark"), mark);
  // Not the warm-up's hostname (its throwaway guest set one) nor the parent's later one.
  assert.equal(sh(`${PARENT}-r`, "hostname"), "before-snapshot");
  assert.match(ok(h.corral(["ps"])), new RegExp(`${PARENT}-r`));
  // A replacement was started.
  await waitReady(1);
  assert.ok(![...members().values()].includes(poolPid));
  ok(h.corral(["stop", `${PARENT}-r`]));
  assert.equal(alive(poolPid), false, "the VM's process ended with corral stop");
  ranOnWarmMachine(`${PARENT}-r`);
});

test("a fork's clones take pool processes; pool stop leaves no process behind", async () => {
  ok(h.corral(["pool", "start", "--size", "2", "--warm", snap]));
  await waitReady(2);
  const pids = new Set(members().values());
  // The parent's clock set back to 2001: a clone whose first exec ran before its T frame set the
  // clock and hostname (daemon.ts resync: a clone counts as running once the frame is sent)
  // would see 2001 and the parent's hostname.
  sh(PARENT, `date -s @${CLOCK_2001} >/dev/null`);
  const clones = ok(h.corral(["fork", PARENT, "--count", "2"])).split("\n");
  assert.equal(clones.length, 2);
  for (const c of clones) {
    // Each clone's first exec.
    const [host, clock] = sh(c, "hostname; date +%s").split("\n");
    assert.equal(host, c);
    const guest = Number(clock);
    assert.ok(Math.abs(guest - Date.now() / 1000) < 60, `${c}'s clock ${guest} at its first exec`);
    assert.ok(pids.has(pidOf(c)), `clone ${c} runs in a pool process`);
    assert.equal(sh(c, "cat /tmp/mark"), "after");
  }
  for (const c of clones) ok(h.corral(["stop", c]));
  // The clones' RAM (the parent's after the snapshot the pool warmed up on) was swapped into the
  // warm machines: the marks and hostnames above are the new RAM's, not the warm-up's.
  for (const c of clones) ranOnWarmMachine(c);
  assert.match(ok(h.corral(["pool", "stop"])), /pool: stopped \d+ process/);
  for (const [id, pid] of seen) assert.equal(isPoolProcess(pid, id), false, `pool process ${pid} ended`);
  for (const pid of seen.values()) assert.equal(alive(pid), false, `process ${pid} ended`);
  assert.deepEqual(
    readdirSync(join(h.home, "pool")).filter((f) => f !== "pool.json"),
    [],
    "no pool files left",
  );
});

test("a restore whose spec differs from the warm machine's gets a new machine in the pool process, and works", async () => {
  ok(h.corral(["pool", "start", "--size", "1", "--warm", snap]));
  await waitReady(1);
  const poolPid = [...members().values()][0]!;
  const name = `${OTHER}-r`;
  ok(h.corral(["restore", snapOther, "--name", name]));
  assert.equal(pidOf(name), poolPid, "the restore took the pool process");
  assert.equal(sh(name, "cat /tmp/mark"), markOther);
  // The snapshot's machine (192 MiB), not the warm one's (256 MiB).
  assert.ok(memOf.other < memOf.parent, `MemTotal ${memOf.other} kB at 192 MiB, ${memOf.parent} kB at 256 MiB`);
  assert.equal(memTotal(name), memOf.other);
  clockIsHosts(name);
  ok(h.corral(["stop", name]));
  ranOnWarmMachine(name, false);
  ok(h.corral(["pool", "stop"]));
});

test("a snapshot whose agent spoke protocol 4 gets its clock set by a command", () => {
  // The host knows the agent's protocol from the snapshot's state (an agent of a corral before the
  // T frame): a copy of the snapshot saying 4, its RAM the same file.
  const old = join(h.home, "snap-v4");
  mkdirSync(old);
  linkSync(join(snapOther, "ram.bin"), join(old, "ram.bin"));
  const state = JSON.parse(readFileSync(join(snapOther, "state.json"), "utf8")) as {
    host: { agent: { version: number } };
  };
  assert.equal(state.host.agent.version, 5);
  state.host.agent.version = 4;
  const text = JSON.stringify(state);
  writeFileSync(join(old, "state.json"), text);
  const manifest = JSON.parse(readFileSync(join(snapOther, "manifest.json"), "utf8")) as {
    state: { size: number; sha256: string };
  };
  manifest.state.size = statSync(join(old, "state.json")).size;
  manifest.state.sha256 = createHash("sha256").update(text).digest("hex");
  writeFileSync(join(old, "manifest.json"), JSON.stringify(manifest));
  const name = `${OTHER}-v4`;
  ok(h.corral(["restore", old, "--name", name]));
  assert.equal(sh(name, "cat /tmp/mark"), markOther);
  clockIsHosts(name);
  ok(h.corral(["stop", name]));
});
