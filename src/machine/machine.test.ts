// The machine's run loop always hands the thread back: a guest whose traps make no progress (the
// trap vector itself faults) can still be stopped, as Ctrl-A X and the signal handlers do.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  S0,
  S1,
  T0,
  T1,
  T2,
  VIRT_CLINT_BASE,
  VIRT_TEST_BASE,
  VIRT_UART0_BASE,
  asm,
} from "../devices/bare-metal.testkit.js";
import { I, J, R } from "../cpu/isa/encode.testkit.js";
import { Exc } from "../cpu/isa/defs.js";
import { buildMachine } from "./builder.js";

/** csrrw x0, mtvec, x0 (Zicsr): mtvec = 0, where no RAM is. */
const CSRW_MTVEC_ZERO = 0x30501073;
/** An all-zero word: an illegal instruction (unprivileged spec 26.2: reserved). */
const ILLEGAL = 0;

function machineOf(words: number[]): ReturnType<typeof buildMachine> {
  const data = new Uint8Array(Uint32Array.from(words).buffer);
  return buildMachine({ memory: 16 * 2 ** 20, cpus: 1, firmware: { name: "prog.bin", data }, console: () => {} });
}

test("a trap vector that faults forever: machine.stop() ends the run", { timeout: 120_000 }, async () => {
  const m = machineOf([CSRW_MTVEC_ZERO, ILLEGAL]);
  // A timer: it fires only if the run loop lets the event loop run.
  setTimeout(() => m.stop(), 50);
  assert.deepEqual(await m.run(), { kind: "stopped" });
  // The hart was taking the trap again and again: a fetch fault at 0.
  assert.equal(m.harts[0]!.mcause, Exc.InstAccess);
  m.close();
});

test("a trap vector at an illegal instruction: machine.stop() ends the run", { timeout: 120_000 }, async () => {
  // auipc t0, 0 ; addi t0, t0, 12 ; csrw mtvec, t0 ; <illegal> (mtvec points at it)
  const m = machineOf([asm.auipc(5, 0), asm.addi(5, 5, 12), 0x30529073, ILLEGAL]);
  setTimeout(() => m.stop("SIGTERM"), 50);
  assert.deepEqual(await m.run(), { kind: "stopped", signal: "SIGTERM" });
  assert.equal(m.harts[0]!.mcause, Exc.Illegal);
  m.close();
});

/** t0 = the UART; one byte to its transmit register; spin. */
const UART_THEN_SPIN = [...asm.li(T0, VIRT_UART0_BASE), asm.addi(T1, 0, 0x41), asm.sb(T1, T0, 0), asm.spin];

/**
 * A hart that writes one byte to the UART and then spins: the console callback settles a promise
 * (as the agent's channel settles an exec when its end arrives) and, when `serve`, asks for the
 * event loop's turn. Resolves with the instructions the hart retired between the write and the
 * promise's continuation.
 */
async function retiredBeforeAnswer(serve: boolean): Promise<number> {
  let atWrite = -1;
  let answer!: () => void;
  const answered = new Promise<void>((r) => (answer = r));
  const data = new Uint8Array(Uint32Array.from(UART_THEN_SPIN).buffer);
  // The callback runs only once the machine runs, when `m` is set.
  const m: ReturnType<typeof buildMachine> = buildMachine({
    memory: 16 * 2 ** 20,
    cpus: 1,
    firmware: { name: "prog.bin", data },
    console: () => {
      if (atWrite >= 0) return;
      atWrite = m.harts[0]!.instret;
      answer();
      if (serve) m.serveHost();
    },
  });
  const run = m.run();
  await answered;
  const n = m.harts[0]!.instret - atWrite;
  m.stop();
  assert.deepEqual(await run, { kind: "stopped" });
  m.close();
  return n;
}

test("serveHost: an answer settled during a slice is seen before the guest runs on", { timeout: 120_000 }, async () => {
  // The program is one block, counted into instret as it ends: the loop hands the thread to the
  // event loop before the spin runs again.
  assert.ok((await retiredBeforeAnswer(true)) <= UART_THEN_SPIN.length);
  // Without it the answer waits for the next yield, a whole slice of the spin loop or more.
  assert.ok((await retiredBeforeAnswer(false)) > 1000);
});

test(
  "a lone hart spinning in compiled code, its slices grown past 20,000, still takes its timer interrupt",
  { timeout: 120_000 },
  async () => {
    // mtvec = the handler; mtimecmp = mtime + 10 ms (the CLINT at 10 MHz); MTIE and MIE on; count in
    // s1 in a loop of one block (compiled once hot, then run in slices of up to 320,000). The
    // handler writes the test finisher's pass code: the run ends only if the interrupt is taken.
    const HANDLER = 72;
    const prog = [
      asm.auipc(T0, 0),
      asm.addi(T0, T0, HANDLER),
      0x30529073, // csrw mtvec, t0
      ...asm.li(T1, VIRT_CLINT_BASE + 0xbff8), // mtime
      asm.lw(T2, T1, 0),
      ...asm.li(S0, 100_000),
      R(0, S0, T2, 0, T2, 0x33), // add t2, t2, s0
      ...asm.li(T1, VIRT_CLINT_BASE + 0x4000), // hart 0's mtimecmp
      asm.sw(0, T1, 4),
      asm.sw(T2, T1, 0),
      asm.addi(T1, 0, 0x80), // MTIE
      I(0x304, T1, 2, 0, 0x73), // csrrs x0, mie, t1
      I(0x300, 8, 6, 0, 0x73), // csrrsi x0, mstatus, MIE
      asm.addi(S1, S1, 1), // 64: loop
      J(-4, 0),
      ...asm.li(T0, VIRT_TEST_BASE), // 72: the handler
      ...asm.li(T1, 0x5555),
      asm.sw(T1, T0, 0),
      asm.spin,
    ];
    assert.equal(prog.indexOf(asm.addi(S1, S1, 1)) * 4, 64);
    const m = machineOf(prog);
    assert.deepEqual(await m.run(), { kind: "poweroff", code: 0 });
    const h = m.harts[0]!;
    // The machine timer interrupt (privileged spec 3.1.15: interrupt 7).
    assert.equal(h.mcause, 7);
    assert.equal(h.mcauseInt, true);
    assert.ok(h.x[2 * S1]! > 0, "the loop ran");
    m.close();
  },
);
