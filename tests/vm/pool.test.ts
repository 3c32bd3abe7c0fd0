// Warm VM processes (src/vm/pool.ts, issue 16 item 6) with a real guest, through the CLI in a
// scratch $CORRAL_HOME: a pool warmed up on a snapshot; a restore takes a pool process (the VM
// runs in it, on the machine the warm-up restored, with the snapshot's RAM swapped in), answers
// exec, and holds the snapshot's memory, not what the warm-up's guest did nor what the parent did
// after the snapshot; the pool refills; a fork takes pool processes for its clones (their RAM,
// the parent's later one, swapped into the warm machines); `corral stop` and `corral pool stop` leave no process behind; bad
// input is one line.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isPoolProcess } from "../../src/vm/pool.js";
import { parseTimings, TIMINGS_PREFIX } from "../../src/vm/phases.js";
import { oneLineError, scratchHome, type Run } from "./scratch-home.js";

const h = scratchHome();
const PARENT = `t-pool-${process.pid}`;
const snap = join(h.home, "snap");
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
function ranOnWarmMachine(name: string): void {
  const line = readFileSync(join(h.home, "vms", name, "console.log"), "latin1")
    .split("\n")
    .find((l) => l.includes(TIMINGS_PREFIX));
  const phases = Object.keys(parseTimings(line ?? "") ?? {});
  assert.ok(phases.includes("first exec ended"), `${name}: timings line ${line}`);
  assert.ok(
    phases.some((p) => p.startsWith("RAM swapped into the warm machine")),
    `${name} ran on the warm machine: ${line}`,
  );
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
  ok(h.corral(["snapshot", PARENT, snap]));
  // The parent runs on and changes what the snapshot holds: no restore may see it.
  sh(PARENT, "echo after > /tmp/mark && hostname after-snapshot");
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
  const clones = ok(h.corral(["fork", PARENT, "--count", "2"])).split("\n");
  assert.equal(clones.length, 2);
  for (const c of clones) {
    assert.ok(pids.has(pidOf(c)), `clone ${c} runs in a pool process`);
    assert.equal(sh(c, "hostname"), c);
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
