// Issue 14 items 1 and 6: whatever a bare-metal guest does, `corral run` stays stoppable and its
// exit status tells the truth. Real programs built with riscv64-unknown-elf-gcc, run through the
// real `corral` executable; QEMU (-M virt -bios none) is the reference where it has one.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after as afterAll, describe, test } from "node:test";
import { ensureDefaultImage } from "../src/image/pull.js";
import {
  CORRAL,
  FINISHER,
  HAVE_CC,
  HAVE_QEMU,
  HAVE_SCRIPT,
  after,
  buildProgram,
  cpuTicks,
  printChar,
  watch,
} from "./bare-metal.js";

/** Hang guard, not a performance threshold: how long a stopped run may take to exit before it counts as hung. */
const HANG_MS = 60_000;
/** How long a waiting guest is watched to see that it keeps waiting (it exited after 0.24 s before). */
const WATCH_MS = 2_000;

const dir = mkdtempSync(join(tmpdir(), "corral-exit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

/** Programs that print "R", then take a trap whose handler makes no progress, forever. */
const TRAP_LOOPS: Record<string, string> = {
  // mtvec = 0: the handler's fetch faults (no RAM there), and traps to 0 again.
  "mtvec = 0": `${printChar("R")}  csrw mtvec, zero\n  .word 0\n`,
  // mtvec beyond the end of RAM.
  "mtvec beyond RAM": `${printChar("R")}  li t0, 0x200000000\n  csrw mtvec, t0\n  .word 0\n`,
  // mtvec at an illegal instruction: the handler's first instruction traps to itself.
  "mtvec at an illegal instruction": `${printChar("R")}  la t0, bad\n  csrw mtvec, t0\n  .word 0\n.balign 4\nbad:\n  .word 0\n`,
};

/** The first 100 bytes of the default guest's kernel: an Image header, then code cut short. */
async function kernelHead(): Promise<string> {
  const k = join(dir, "kernel-head");
  writeFileSync(k, readFileSync((await ensureDefaultImage()).kernel).subarray(0, 100));
  return k;
}

function program(name: string, body: string): string {
  return buildProgram(dir, name.replace(/\W+/g, "-"), `.globl _start\n_start:\n${body}`);
}

async function stopWith(
  signal: NodeJS.Signals,
  elf: string,
  ready: string,
): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const run = watch(process.execPath, [CORRAL, "run", "--firmware", elf]);
  await Promise.race([run.printed(ready), after(HANG_MS, null)]);
  assert.ok(run.stdout().includes(ready), `the program never printed ${ready}: the run loop never let its output out`);
  run.child.kill(signal);
  const r = await Promise.race([run.exited, after(HANG_MS, null)]);
  if (r === null) {
    run.child.kill("SIGKILL");
    assert.fail(`corral ignored ${signal} for ${HANG_MS} ms`);
  }
  return { ...r, stderr: run.stderr() };
}

describe("a trap that makes no progress", { skip }, () => {
  for (const [what, body] of Object.entries(TRAP_LOOPS)) {
    test(`${what}: SIGTERM stops the run with status 143 and one line saying why`, async () => {
      const r = await stopWith("SIGTERM", program(what, body), "R");
      assert.equal(r.status, 128 + 15);
      assert.equal(r.stderr, "corral: stopped by SIGTERM\n");
    });
  }
  test("SIGINT stops it with status 130", async () => {
    const r = await stopWith("SIGINT", program("sigint", TRAP_LOOPS["mtvec = 0"]!), "R");
    assert.equal(r.status, 128 + 2);
    assert.equal(r.stderr, "corral: stopped by SIGINT\n");
  });
  test("the first 100 bytes of a kernel as --kernel: stoppable", async () => {
    const k = await kernelHead();
    const run = watch(process.execPath, [CORRAL, "run", "--kernel", k, "--memory", "128M"]);
    // Nothing is printed: wait until the guest has run a while (by its CPU time), then stop it.
    while (run.child.exitCode === null && cpuTicks(run.child.pid!) < 100) await after(100, null);
    run.child.kill("SIGTERM");
    const r = await Promise.race([run.exited, after(HANG_MS, null)]);
    if (r === null) run.child.kill("SIGKILL");
    assert.deepEqual(r, { status: 143, signal: null }, run.stderr());
  });
  test(
    "Ctrl-A X on the console quits, with status 0 as QEMU's",
    { skip: !HAVE_SCRIPT && "util-linux script is not installed" },
    async () => {
      const k = await kernelHead();
      // util-linux script gives corral a terminal, so its console takes Ctrl-A X (cli/console.ts). The
      // keys are read only when the run loop lets the event loop run: before the fix, never.
      const run = watch(
        "script",
        ["-q", "-e", "-c", `${process.execPath} ${CORRAL} run --memory 128M --kernel ${k}`, "/dev/null"],
        "pipe",
      );
      run.child.stdin!.write("\x01x");
      const r = await Promise.race([run.exited, after(HANG_MS, null)]);
      if (r === null) run.child.kill("SIGKILL");
      assert.deepEqual(r, { status: 0, signal: null }, run.stderr());
    },
  );
});

describe("a guest waiting with its interrupts off", { skip }, () => {
  // WFI with mie = 0 and mstatus.MIE = 0: nothing can ever wake the hart (privileged spec 3.3.3).
  const body = `${printChar("W")}  csrw mie, zero\n  csrci mstatus, 8\n1:\n  wfi\n  j 1b\n`;

  test(
    "QEMU keeps waiting (the reference)",
    { skip: !HAVE_QEMU && "qemu-system-riscv64 is not installed" },
    async () => {
      const run = watch("qemu-system-riscv64", [
        "-M",
        "virt",
        "-bios",
        "none",
        "-nographic",
        "-kernel",
        program("wfi-off", body),
      ]);
      await run.printed("W");
      assert.equal(await Promise.race([run.exited, after(WATCH_MS, "waiting")]), "waiting");
      run.child.kill("SIGKILL");
      await run.exited;
    },
  );

  test("Corral keeps waiting, costs no CPU, and SIGTERM stops it with status 143", async () => {
    const run = watch(process.execPath, [CORRAL, "run", "--firmware", program("wfi-off", body)]);
    await run.printed("W");
    const pid = run.child.pid!;
    const t0 = Date.now();
    const ticks0 = cpuTicks(pid);
    assert.equal(await Promise.race([run.exited, after(WATCH_MS, "waiting")]), "waiting", `it ended: ${run.stderr()}`);
    // CPU time in clock ticks (100 a second): an idle guest uses a small part of the wall time.
    const used = (cpuTicks(pid) - ticks0) * 10;
    assert.ok(used < (Date.now() - t0) / 2, `a waiting guest used ${used} ms of CPU in ${Date.now() - t0} ms`);
    run.child.kill("SIGTERM");
    assert.deepEqual(await run.exited, { status: 143, signal: null });
    assert.equal(run.stderr(), "corral: stopped by SIGTERM\n");
  });
});

describe("exit statuses match QEMU's", { skip }, () => {
  // The SiFive test finisher (QEMU hw/misc/sifive_test.c): 0x5555 pass, code << 16 | 0x3333 fail, 0x7777 reset.
  const finish = (v: number): string => `  li t0, ${FINISHER}\n  li t1, ${v}\n  sw t1, 0(t0)\n1:\n  j 1b\n`;
  const cases: [string, number, number][] = [
    ["pass", 0x5555, 0],
    ["fail with code 3", (3 << 16) | 0x3333, 3],
    ["fail with code 255", (255 << 16) | 0x3333, 255],
    // Corral does not reboot: as QEMU with -no-reboot, the run ends with status 0.
    ["reset", 0x7777, 0],
  ];
  for (const [what, value, status] of cases) {
    test(`finisher ${what}: status ${status}`, async () => {
      const elf = program(`finish-${what}`, finish(value));
      if (HAVE_QEMU) {
        const q = watch("qemu-system-riscv64", [
          "-M",
          "virt",
          "-bios",
          "none",
          "-nographic",
          "-no-reboot",
          "-kernel",
          elf,
        ]);
        assert.equal((await q.exited).status, status, "QEMU");
      }
      const c = watch(process.execPath, [CORRAL, "run", "--firmware", elf]);
      assert.equal((await c.exited).status, status, c.stderr());
    });
  }
});
