// `npm run bench` interrupted (hygiene item 4): the snapshot bench, in a scratch $CORRAL_HOME,
// gets SIGINT once its VM runs; it exits 130 and leaves no VM running, no VM directory and no
// snapshot directory on /dev/shm behind (src/bench/cleanup.ts, the one handler in main.ts).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { isBenchVm } from "../src/bench/cleanup.js";
import { listVms, vmsRoot } from "../src/vm/state.js";
import { scratchHome } from "./vm/scratch-home.js";

const BENCH = fileURLToPath(new URL("../src/bench/main.js", import.meta.url));
const h = scratchHome();
after(() => rmSync(h.home, { recursive: true, force: true }));

/** The bench's snapshot directories on /dev/shm (src/bench/snapshot.ts names them after its pid). */
const shmDirs = (pid: number | undefined): string[] =>
  readdirSync("/dev/shm").filter((f) => f.startsWith(`corral-bench-snap-${pid}-`));

test("the names of a bench process's VMs, and no other process's", () => {
  for (const n of ["bench-snap-42", "bench-snap-42-r0", "bench-snap-42-a1b2c3", "bench-sriov-a-42", "bench-mem-42-3"])
    assert.ok(isBenchVm(n, 42), n);
  for (const n of ["bench-snap-420", "bench-snap-4-2", "bench-mem-9-42", "t-snap-42", "bench-42", "web"])
    assert.ok(!isBenchVm(n, 42), n);
});

test("SIGINT during the snapshot bench: exit 130, its VM stopped and removed, its files gone", async () => {
  const bench = spawn(process.execPath, [BENCH, "snapshot", "--rounds", "1"], {
    env: h.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  bench.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => bench.on("exit", (code) => r(code)));
  const mine = (): string[] => listVms(h.home).flatMap((r) => (isBenchVm(r.name, bench.pid) ? [r.name] : []));
  try {
    // Wait until its VM runs (a guard against hanging: at most 10 minutes, not a timing test).
    for (let i = 0; i < 2400 && mine().length === 0 && bench.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(mine(), [`bench-snap-${bench.pid}`], `the bench's VM runs; its stderr: ${stderr}`);
    assert.equal(shmDirs(bench.pid).length, 1, "the bench made its snapshot directory");
    bench.kill("SIGINT");
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /bench: SIGINT: stopping what the benchmarks started/);
    assert.deepEqual(mine(), [], "no VM of the bench runs");
    const dirs = existsSync(vmsRoot(h.home)) ? readdirSync(vmsRoot(h.home)) : [];
    assert.deepEqual(
      dirs.filter((n) => isBenchVm(n, bench.pid)),
      [],
      "no VM directory of the bench is left",
    );
    assert.deepEqual(shmDirs(bench.pid), [], "its snapshot directory on /dev/shm is gone");
  } finally {
    if (bench.exitCode === null) bench.kill("SIGKILL");
    for (const r of listVms(h.home)) if (isBenchVm(r.name, bench.pid)) process.kill(r.pid, "SIGKILL");
  }
});
