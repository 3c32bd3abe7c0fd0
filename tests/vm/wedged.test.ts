// Issue 14 item 1: the control path of one VM never waits on another. Three detached VMs run
// small S-mode programs (built with riscv64-unknown-elf-gcc, booted as the kernel): one waits, one
// takes a trap whose vector faults for ever (its run loop must still serve the socket), and one
// is wedged (SIGSTOP: its control socket still accepts connections in the kernel, but nothing
// answers, as when its event loop is blocked, and SIGTERM stays pending). `corral ps` must answer
// for all three, `exec` on the wedged one must fail with one line, and `corral stop` must kill it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchVm } from "../../src/vm/launch.js";
import { vmSpec } from "../../src/vm/options.js";
import { isVmProcess } from "../../src/vm/state.js";
import { CORRAL, HAVE_CC, after as delay, buildProgram } from "../bare-metal.js";

/** Hang guard, not a performance threshold: a control command that takes longer counts as hung. */
const HANG_MS = 90_000;
const home = mkdtempSync(join(tmpdir(), "corral-wedged-"));
const HEALTHY = "healthy";
/** Its guest takes a trap whose vector faults, forever: the VM must still answer (the run loop yields). */
const TRAPPING = "trapping";
const WEDGED = "wedged";
const pids: number[] = [];

function corral(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string } | "hung"> {
  const p = spawn(process.execPath, [CORRAL, ...args], { env: { ...process.env, CORRAL_HOME: home } });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    p.on("close", (status) => resolve({ status, stdout, stderr })),
  );
  return Promise.race([done, delay(HANG_MS, "hung" as const)]).then((r) => {
    if (r === "hung") p.kill("SIGKILL");
    return r;
  });
}

before(async () => {
  if (!HAVE_CC) return;
  // Waits for interrupts in S-mode (booted directly, as a kernel): the VM serves its socket.
  const idle = buildProgram(home, "idle", ".globl _start\n_start:\n1:\n  wfi\n  j 1b\n");
  // stvec = 0: the illegal instruction traps (delegated to S-mode) to 0, where no RAM is, and the
  // fetch fault traps there again.
  const trapping = buildProgram(home, "trapping", ".globl _start\n_start:\n  csrw stvec, zero\n  .word 0\n");
  for (const [name, kernel] of [
    [HEALTHY, idle],
    [TRAPPING, trapping],
    [WEDGED, idle],
  ] as const) {
    const vm = await launchVm(vmSpec({ name, memory: 64 * 2 ** 20, cpus: 1, kernel }), {
      home,
      waitForAgent: false,
      bootTimeoutMs: HANG_MS,
    });
    pids.push(vm.record().pid);
  }
  process.kill(pids[2]!, "SIGSTOP");
});

after(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(home, { recursive: true, force: true });
});

const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

test("ps answers for the healthy VM and shows the wedged one as not answering", { skip }, async () => {
  const r = await corral(["ps", "--json"]);
  assert.notEqual(r, "hung", "corral ps waited on the wedged VM");
  if (r === "hung") return;
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; state: string }[];
  assert.deepEqual(
    rows.map((v) => [v.name, v.state]),
    [
      [HEALTHY, "booting"],
      [TRAPPING, "booting"],
      [WEDGED, "not answering"],
    ],
  );
});

test("exec on the wedged VM fails with one line saying so", { skip }, async () => {
  const r = await corral(["exec", WEDGED, "--", "true"]);
  assert.notEqual(r, "hung", "corral exec waited on the wedged VM for ever");
  if (r === "hung") return;
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^corral: VM 'wedged' does not answer on its control socket .*corral stop wedged/);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
});

test("stop kills the wedged VM, and stops the others", { skip }, async () => {
  const r = await corral(["stop", "-t", "1", WEDGED, TRAPPING, HEALTHY]);
  assert.notEqual(r, "hung", "corral stop waited on the wedged VM for ever");
  if (r === "hung") return;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${WEDGED} (killed)\n${TRAPPING}\n${HEALTHY}\n`);
  for (const [i, name] of [HEALTHY, TRAPPING, WEDGED].entries()) assert.equal(isVmProcess(pids[i]!, name), false, name);
  const ps = await corral(["ps", "--json"]);
  assert.notEqual(ps, "hung");
  if (ps !== "hung") assert.equal(ps.stdout, "[]\n");
});
