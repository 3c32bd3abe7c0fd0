// Issue 17 item 2: each hart on a host thread of its own (src/machine/threads/), over one shared
// guest RAM. A bare-metal S-mode program on 4 harts (started through SBI HSM) counts with AMOs and
// LR/SC and checks the totals; Debian's kernel on 4 harts runs a threaded guest program
// (tests/smp/guest-hammer.c) that hammers AMOs, LR/SC counters and a futex mutex, ten times in one
// VM, each total exact (on hart threads, and again on the default one-thread scheduler); and
// `corral stop` stops a VM whose every hart spins, from its control socket (the VM answers: its
// devices and socket are on a thread no hart runs on).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runGuestCommand } from "../../src/api/guest-command.js";
import { Corral } from "../../src/api/index.js";
import { vmDir } from "../../src/vm/state.js";
import { launchVm } from "../../src/vm/launch.js";
import { vmSpec } from "../../src/vm/options.js";
import { isVmProcess } from "../../src/vm/state.js";
import { GuestSamples } from "../../src/profile/guest.js";
import { CORRAL, HAVE_CC, ROOT, buildProgram } from "../bare-metal.js";
import { threadedMachine } from "./threaded-machine.js";

// Harts on threads, whatever the default (the VM processes launched below inherit it).
process.env["CORRAL_THREADS"] = "1";
const home = mkdtempSync(join(tmpdir(), "corral-smp-"));
const pids: number[] = [];
after(() => {
  for (const pid of pids)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  rmSync(home, { recursive: true, force: true });
});
const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

/** S-mode start (booted directly: a0 = hartid): hart 0 starts harts 1-3 (SBI HSM hart_start) at `work`. */
const START = `
.globl _start
_start:
  mv s0, a0
  bnez s0, work
  li s1, 1
1:
  mv a0, s1
  la a1, work
  li a2, 0
  li a7, 0x48534D
  li a6, 0
  ecall
  addi s1, s1, 1
  li t0, 4
  blt s1, t0, 1b
  li s0, 0
`;
const ITERS = 200_000;

test(
  "4 harts count with amoadd.d and lr.d/sc.d: exact totals, each hart's thread in compiled code, profiled",
  { skip },
  async () => {
    const elf = buildProgram(
      home,
      "count",
      `${START}
work:
  li s2, ${ITERS}
  la s3, amo
  la s4, lrsc
2:
  li t0, 1
  amoadd.d zero, t0, (s3)
3:
  lr.d t1, (s4)
  addi t1, t1, 1
  sc.d t2, t1, (s4)
  bnez t2, 3b
  addi s2, s2, -1
  bnez s2, 2b
  la t3, done
  li t0, 1
  amoadd.w zero, t0, (t3)
  bnez s0, park
4:
  lw t0, (t3)
  li t1, 4
  bne t0, t1, 4b
  li t2, ${4 * ITERS}
  ld t0, (s3)
  ld t1, (s4)
  li a1, 1
  bne t0, t2, 5f
  bne t1, t2, 5f
  li a1, 0
5:
  li a0, 0
  li a7, 0x53525354
  li a6, 0
  ecall
park:
  wfi
  j park
.data
.align 3
amo: .dword 0
lrsc: .dword 0
done: .word 0
`,
    );
    // In this process, to see where the instructions ran: each hart's loop is hot enough that its
    // thread compiles it (the wasm tier), so most of each hart's instructions retire in compiled code.
    const { m, out } = threadedMachine(elf, 4);
    // `corral run --profile`'s guest half, fed by the harts' threads (machine/threads/samples.ts).
    const guest = new GuestSamples(null);
    m.sampler = guest.sample;
    const exit = await m.run();
    assert.deepEqual(exit, { kind: "poweroff", code: 0 }, out());
    assert.equal(m.retiredCompiled.length, 4);
    for (const [hart, n] of m.retiredCompiled.entries())
      assert.ok(n > ITERS, `hart ${hart} retired ${n} instructions in compiled code (of ${m.retired} in all)`);
    // The loops run in S-mode; a batch still on its way when the machine ended may be missing.
    assert.ok(guest.modes.kernel > 4 * ITERS && guest.total <= m.retired, `${guest.total} of ${m.retired} sampled`);
  },
);

/** Runs of f by harts 1-3 in each phase: below the wasm tier's threshold (exec.ts HOT_WASM, 5,000). */
const FEW = 4000;
/** Runs of f by hart 0 in each phase: hot enough to compile. */
const MANY = 30_000;

test(
  "a block compiled on one hart's thread runs on the others; a code write by one hart drops it on every hart",
  { skip },
  async () => {
    // f returns 1 through 100 instructions. Hart 0 calls it MANY times (its thread compiles f and
    // the loop, and posts them: machine/threads/code-share.ts) while harts 1-3 sleep in WFI; then
    // harts 1-3 call it FEW times, too few to compile it themselves. Hart 0 then patches f to
    // return 2 (fence.i, SBI remote_fence_i to harts 1-3), calls it MANY times again, and harts
    // 1-3 FEW times: every call on every hart must see the new code.
    const elf = buildProgram(
      home,
      "share",
      `${START}
  j common
work:
  mv s0, a0             # harts 1-3 start here, a0 = hartid (SBI HSM)
common:
  la sp, stacks
  addi t0, s0, 1
  slli t0, t0, 12
  add sp, sp, t0        # a page of stack per hart
  li t0, 2
  csrs sie, t0          # SSIP wakes WFI (sstatus.SIE stays clear: no trap)
  la s3, flag
  la s4, sum
  la s5, done
  bnez s0, other
  li a0, ${MANY}
  call calls
  mv s6, a0
  li a0, 1
  call release          # phase 1 for harts 1-3
  li a0, 3
  call await            # ... and their calls to f are over
  # Patch f's first instruction (addi a0, zero, 1 -> addi a0, zero, 2), for every hart.
  la t0, f
  li t1, 0x00200513
  sw t1, 0(t0)
  fence.i
  li a0, 0xe
  li a1, 0
  li a7, 0x52464E43     # SBI RFENCE remote_fence_i
  li a6, 0
  ecall
  li a0, ${MANY}
  call calls
  add s6, s6, a0
  li a0, 2
  call release          # phase 2 for harts 1-3
  li a0, 6
  call await
  ld t0, (s4)
  li t1, ${3 * MANY}
  li t2, ${9 * FEW}
  li a1, 1              # reason 1, a system failure: code 1
  bne s6, t1, 2f
  bne t0, t2, 2f
  li a1, 0
2:
  li a0, 0
  li a7, 0x53525354
  li a6, 0
  ecall

# Harts 1-3: each phase, wait for hart 0, then call f FEW times and add up what it returned.
other:
  li s7, 1
3:
  wfi
  csrc sip, 2
  lw t0, (s3)
  blt t0, s7, 3b
  li a0, ${FEW}
  call calls
  amoadd.d zero, a0, (s4)
  li t0, 1
  amoadd.w zero, t0, (s5)
  addi s7, s7, 1
  li t0, 3
  blt s7, t0, 3b
park:
  wfi
  j park

# Wait until harts 1-3 are done a0 times in all.
await:
  fence rw, rw
  lw t0, (s5)
  blt t0, a0, await
  ret

# Set the phase flag to a0 and wake harts 1-3 (SBI IPI).
release:
  fence rw, rw
  sw a0, (s3)
  li a0, 0xe
  li a1, 0
  li a7, 0x735049
  li a6, 0
  ecall
  ret

# Call f a0 times; returns the sum of what it returned.
calls:
  addi sp, sp, -16
  sd ra, 0(sp)
  mv s8, a0
  li s9, 0
4:
  call f
  add s9, s9, a0
  addi s8, s8, -1
  bnez s8, 4b
  mv a0, s9
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

.option push
.option norvc
.balign 4096
f:
  addi a0, zero, 1
  .rept 98
  addi t6, t6, 1
  .endr
  ret
.option pop

.data
.align 3
sum: .dword 0
flag: .word 0
done: .word 0
.balign 4096
stacks: .space 4 * 4096
`,
    );
    const { m, out } = threadedMachine(elf, 4);
    const exit = await m.run();
    assert.deepEqual(exit, { kind: "poweroff", code: 0 }, out());
    // Harts 1-3 ran f's 100 instructions 2 * FEW times in compiled code that hart 0's thread
    // compiled: they never ran it often enough to compile it themselves.
    for (const hart of [1, 2, 3]) {
      assert.ok(m.adoptedBlocks[hart]! >= 2, `hart ${hart} took ${m.adoptedBlocks[hart]} blocks`);
      assert.ok(m.retiredCompiled[hart]! > 2 * FEW * 100, `hart ${hart}: ${m.retiredCompiled[hart]} compiled`);
    }
  },
);

test(
  "a hart thread in a hot compiled loop (its slices grown: threads/slice.ts) still takes its timer and an IPI",
  { skip, timeout: 120_000 },
  async () => {
    // Hart 1 first counts 5 M rounds of a loop of three instructions, compiled at once and fast
    // enough that its thread grows its slices (to 16x SLICE on an idle host). Then it runs two
    // loops that end only by an interrupt: the first at the timer it sets 1 ms ahead (SBI TIME
    // set_timer: a grown slice must stop by the hart's own deadline, as nothing else rings it);
    // the second at an IPI from hart 0 (SBI IPI), sent once hart 1 is past the first. Hart 1 then
    // powers off; a lost interrupt hangs the test until its timeout.
    const elf = buildProgram(
      home,
      "slices",
      `
.globl _start
_start:
  bnez a0, hart1
  li a0, 1                # SBI HSM hart_start(1, hart1, 0)
  la a1, hart1
  li a2, 0
  li a7, 0x48534D
  li a6, 0
  ecall
  la t3, phase
1:
  .word 0x0100000f        # pause
  lw t0, (t3)
  beqz t0, 1b
  li a0, 2                # SBI IPI send_ipi(mask 0b10, base 0)
  li a1, 0
  li a7, 0x735049
  li a6, 0
  ecall
2:
  wfi
  j 2b
hart1:
  la t0, handler
  csrw stvec, t0
  li t0, 0x22             # sie.SSIE | sie.STIE
  csrs sie, t0
  li t0, 5000000
0:
  addi s4, s4, 1
  addi t0, t0, -1
  bnez t0, 0b
  rdtime a0
  li t0, 10000            # 1 ms at the 10 MHz timebase
  add a0, a0, t0
  li a7, 0x54494D45       # SBI TIME set_timer
  li a6, 0
  ecall
  csrsi sstatus, 2        # sstatus.SIE
  li s2, 0
loop1:
  addi s2, s2, 1
  j loop1
loop2:
  addi s3, s3, 1
  j loop2
.align 2
handler:
  csrr t0, scause
  li t1, 0x8000000000000005
  beq t0, t1, timer
  li t1, 0x8000000000000001
  beq t0, t1, soft
  li a1, 1                # anything else: fail
  j off
timer:
  li a0, -1               # disarm
  li a7, 0x54494D45
  li a6, 0
  ecall
  la t3, phase
  li t0, 1
  sw t0, (t3)
  la t0, loop2
  csrw sepc, t0
  sret
soft:
  li a1, 0
  beqz s2, 3f             # both loops must have run
  bnez s3, off
3:
  li a1, 2
off:
  li a0, 0                # SBI SRST: shutdown, reason a1
  li a7, 0x53525354
  li a6, 0
  ecall
.data
.align 3
phase: .word 0
`,
    );
    const { m, out } = threadedMachine(elf, 2);
    assert.deepEqual(await m.run(), { kind: "poweroff", code: 0 }, out());
    // The counted loop ran in compiled code on hart 1's thread.
    assert.ok(m.retiredCompiled[1]! > 10_000_000, `hart 1: ${m.retiredCompiled[1]} of ${m.retired} compiled`);
  },
);

/**
 * Debian's kernel on 4 harts runs tests/smp/guest-hammer.c ten times; every total must be exact.
 * `threads` picks hart threads or the one-thread scheduler, whose harts end their slice at a PAUSE
 * (ops-sys.ts pause): the futex mutex and the kernel's own locks spin there.
 */
async function hammer(threads: boolean): Promise<void> {
  const prog = join(home, "guest-hammer");
  if (!existsSync(prog))
    execFileSync("riscv64-unknown-elf-gcc", [
      ...["-nostdlib", "-static", "-ffreestanding", "-fno-builtin", "-O2", "-march=rv64gc"],
      ...["-Wl,-Ttext=0x10000", "-Wl,--no-relax", "-o", prog, join(ROOT, "tests", "smp", "guest-hammer.c")],
    ]);
  const runs = 10;
  // The VM's process inherits the environment (builder.ts reads CORRAL_THREADS).
  const saved = process.env["CORRAL_THREADS"];
  process.env["CORRAL_THREADS"] = threads ? "1" : "0";
  try {
    const r = await runGuestCommand(
      `for i in $(seq ${runs}); do /corral/files/hammer 4 5000 || echo FAILED; done; grep -c ^processor /proc/cpuinfo`,
      { cpus: 4, files: { hammer: new Uint8Array(readFileSync(prog)) } },
    );
    assert.equal(r.status, 0, r.output);
    const lines = r.output.trim().split("\n");
    const want = 4 * 5000;
    assert.deepEqual(
      lines.slice(0, runs),
      new Array<string>(runs).fill(`amo32=${want} amo64=${3 * want} lrsc=${want} mutex=${want} want=${want}`),
      r.output,
    );
    assert.equal(lines[runs], "4");
  } finally {
    if (saved === undefined) delete process.env["CORRAL_THREADS"];
    else process.env["CORRAL_THREADS"] = saved;
  }
}

test(
  "Debian's kernel on 4 harts: threads hammering AMOs, LR/SC and a futex mutex get exact totals, 10 runs",
  { skip },
  () => hammer(true),
);

test("Debian's kernel on 4 harts on one thread (the default scheduler): the same hammer, exact totals", { skip }, () =>
  hammer(false),
);

test("corral stop stops a VM whose 4 harts all spin, through its control socket", { skip }, async () => {
  const elf = buildProgram(home, "spin", `${START}\nwork:\n  j work\n`);
  const vm = await launchVm(vmSpec({ name: "spin", memory: 64 * 2 ** 20, cpus: 4, kernel: elf }), {
    home,
    waitForAgent: false,
    bootTimeoutMs: 120_000,
  });
  const pid = vm.record().pid;
  pids.push(pid);
  const r = spawnSync(process.execPath, [CORRAL, "stop", "-t", "1", "spin"], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CORRAL_HOME: home },
  });
  assert.equal(r.status, 0, r.stderr);
  // Stopped through its socket, not killed (stop says "(killed)" for a VM that did not answer).
  assert.equal(r.stdout, "spin\n");
  assert.equal(isVmProcess(pid, "spin"), false);
});

test("a VM on 2 hart threads is snapshotted (the harts pause at a slice boundary), runs on, and its restore answers", async () => {
  const name = `t-smp-snap-${process.pid}`;
  const parent = await Corral.start({ name, memory: "256M", cpus: 2 });
  const restored: { stop(): Promise<void> }[] = [];
  try {
    let r = await parent.exec(["sh", "-c", "echo parent > /tmp/mark; nproc"]);
    assert.equal(r.stdout, "2\n", r.stderr);
    const snap = join(home, "snap");
    await parent.snapshot(snap);
    r = await parent.exec(["sh", "-c", "echo after > /tmp/mark; cat /tmp/mark"]);
    assert.equal(r.stdout, "after\n", r.stderr);
    const copy = await Corral.restore(snap, { name: `${name}-r` });
    restored.push(copy);
    r = await copy.exec(["sh", "-c", "cat /tmp/mark; nproc"]);
    assert.equal(r.stdout, "parent\n2\n", r.stderr);
  } finally {
    for (const vm of [...restored, parent]) await vm.stop().catch(() => {});
    for (const n of [name, `${name}-r`]) rmSync(vmDir(n), { recursive: true, force: true });
  }
});

test("harts on threads with --irqchip aia are refused in one line, before anything starts", () => {
  const r = spawnSync(process.execPath, [CORRAL, "run", "--cpus", "2", "--irqchip", "aia", "--", "true"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    /^corral: harts on threads \(CORRAL_THREADS=1\) work with the PLIC only for now: drop --irqchip aia or CORRAL_THREADS\n$/,
  );
});
