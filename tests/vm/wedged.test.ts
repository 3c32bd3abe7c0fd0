// Issue 14 item 1, second part: the control path of one VM never waits on another. Two detached
// VMs run a small S-mode program (built with riscv64-unknown-elf-gcc, booted as the kernel); one
// is then wedged (SIGSTOP: its control socket still accepts connections in the kernel, but nothing
// answers, as when its event loop is blocked, and SIGTERM stays pending). `corral ps` must answer
// for both, `exec` on the wedged one must fail with one line, and `corral stop` must kill it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchVm } from "../../src/vm/launch.js";
import { isVmProcess } from "../../src/vm/state.js";
import { CORRAL, HAVE_CC, after as delay, buildProgram } from "../bare-metal.js";

/** Hang guard, not a performance threshold: a control command that takes longer counts as hung. */
const HANG_MS = 90_000;
const home = mkdtempSync(join(tmpdir(), "corral-wedged-"));
const HEALTHY = "healthy";
const WEDGED = "wedged";
const pids: number[] = [];

function corral(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string } | "hung"> {
  const p = spawn(process.execPath, [CORRAL, ...args], { env: { ...process.env, CORRAL_HOME: home } });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => p.on("close", (status) => resolve({ status, stdout, stderr })));
  return Promise.race([done, delay(HANG_MS, "hung" as const)]).then((r) => {
    if (r === "hung") p.kill("SIGKILL");
    return r;
  });
}

before(async () => {
  if (!HAVE_CC) return;
  // Waits for interrupts in S-mode (booted directly, as a kernel): the VM serves its socket.
  const elf = buildProgram(home, "idle", ".globl _start\n_start:\n1:\n  wfi\n  j 1b\n");
  for (const name of [HEALTHY, WEDGED]) {
    const vm = await launchVm({ name, home, memory: 64 * 2 ** 20, cpus: 1, kernel: elf, waitForAgent: false });
    pids.push(vm.record().pid);
  }
  process.kill(pids[1]!, "SIGSTOP");
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

test("stop kills the wedged VM, and stops the healthy one", { skip }, async () => {
  const r = await corral(["stop", "-t", "1", WEDGED, HEALTHY]);
  assert.notEqual(r, "hung", "corral stop waited on the wedged VM for ever");
  if (r === "hung") return;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${WEDGED} (killed)\n${HEALTHY}\n`);
  assert.equal(isVmProcess(pids[1]!, WEDGED), false);
  assert.equal(isVmProcess(pids[0]!, HEALTHY), false);
  const ps = await corral(["ps", "--json"]);
  assert.notEqual(ps, "hung");
  if (ps !== "hung") assert.equal(ps.stdout, "[]\n");
});
