/**
 * Uart16550 against QEMU's 16550A, register by register: a bare-metal guest performs the same
 * register accesses on QEMU virt's UART0, keeps every value it reads, then prints them; the
 * values our device returns for the same accesses must be identical.
 *
 * The scenarios avoid what differs by design: QEMU raises the receive-timeout interrupt from a
 * timer (we report it at once), so no IIR is read while received data sits below the trigger
 * level with receive interrupts on; the divisor is set to its slowest so that timer never fires.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { asm, haveQemu, runBareMetal, S1, T0, T1, T2, VIRT_TEST_BASE, VIRT_UART0_BASE } from "./bare-metal.testkit.js";
import { FINISHER } from "./sifive-test.js";
import { UART_REG as R, Uart16550 } from "./uart16550.js";

type Op = { w: number; v: number } | { r: number; what: string };
const w = (reg: number, v: number): Op => ({ w: reg, v });
const r = (reg: number, what: string): Op => ({ r: reg, what });
const DLL = R.data;
const DLM = R.ier;
const RBR = R.data;
const THR = R.data;
const IIR = R.iirFcr;
const FCR = R.iirFcr;

/** The slowest divisor keeps QEMU's receive timeout (4 character times) from firing mid-run. */
const slowest = [w(R.lcr, 0x80), w(DLL, 0xff), w(DLM, 0xff), w(R.lcr, 0x03)];

const scenarios: Record<string, Op[]> = {
  "reset state": [
    ...[RBR, R.ier, IIR, R.lcr, R.mcr, R.lsr, R.msr, R.scr].map((reg) => r(reg, `reset reg ${reg}`)),
    w(R.lcr, 0x80),
    r(DLL, "reset DLL"),
    r(DLM, "reset DLM"),
  ],
  "OpenSBI init, then Linux 8250 probe": [
    w(R.ier, 0),
    w(R.lcr, 0x80),
    w(DLL, 2),
    w(DLM, 0),
    r(DLL, "DLL"),
    r(DLM, "DLM"),
    w(R.lcr, 0x03),
    w(FCR, 0x01),
    w(R.mcr, 0x00),
    r(R.lsr, "LSR after init"),
    r(RBR, "RBR after init"),
    w(R.scr, 0),
    r(IIR, "IIR with FIFO"),
    r(R.ier, "IER"),
    r(R.lcr, "LCR"),
    r(R.mcr, "MCR"),
    w(R.scr, 0xa5),
    r(R.scr, "SCR"),
    w(R.ier, 0x0f),
    r(R.ier, "IER all"),
    w(R.ier, 0xff),
    r(R.ier, "IER masked"),
    w(R.ier, 0),
    w(R.mcr, 0x1a),
    r(R.msr, "MSR loop RTS+OUT2"),
    w(R.mcr, 0x1f),
    r(R.msr, "MSR loop all"),
    w(R.mcr, 0x15),
    r(R.msr, "MSR loop DTR+OUT1"),
    w(R.mcr, 0x0b),
    r(R.msr, "MSR no loop"),
    w(FCR, 0),
    r(IIR, "IIR no FIFO"),
    w(FCR, 0x01),
    r(IIR, "IIR FIFO again"),
  ],
  "THRE interrupt": [
    ...slowest,
    w(FCR, 0x07),
    w(R.ier, 0x02),
    r(IIR, "IIR THRI enabled"),
    r(IIR, "IIR after read"),
    w(R.ier, 0),
    w(R.ier, 0x02),
    r(IIR, "IIR THRI re-enabled"),
    w(R.mcr, 0x10),
    w(THR, 0x41),
    r(IIR, "IIR after THR write"),
    r(IIR, "IIR read twice"),
    r(R.lsr, "LSR loop data"),
    r(RBR, "RBR loop"),
    r(R.lsr, "LSR drained"),
    w(THR, 0x42),
    r(IIR, "IIR THR again"),
    w(FCR, 0x05),
    r(IIR, "IIR after clearing TX FIFO"),
    r(R.lsr, "LSR after FIFO clears"),
    w(R.ier, 0),
    r(IIR, "IIR THRI off"),
  ],
  "loopback FIFO, trigger level, overruns": [
    ...slowest,
    w(R.mcr, 0x10),
    w(FCR, 0xc1),
    ...Array.from({ length: 14 }, (_, i) => w(THR, 0x30 + i)),
    w(R.ier, 0x01),
    r(IIR, "IIR at trigger 14"),
    r(R.lsr, "LSR 14 queued"),
    ...Array.from({ length: 14 }, (_, i) => r(RBR, `RBR #${i}`)),
    r(R.lsr, "LSR FIFO empty"),
    r(IIR, "IIR FIFO empty"),
    r(RBR, "RBR empty FIFO"),
    w(R.ier, 0),
    w(FCR, 0x07),
    ...Array.from({ length: 17 }, (_, i) => w(THR, 0x60 + i)),
    r(R.lsr, "LSR overrun"),
    r(R.lsr, "LSR overrun cleared"),
    ...Array.from({ length: 16 }, (_, i) => r(RBR, `RBR kept #${i}`)),
    r(R.lsr, "LSR after overrun drain"),
    w(FCR, 0x00),
    w(THR, 0x11),
    w(THR, 0x22),
    r(R.lsr, "LSR no-FIFO overrun"),
    r(RBR, "RBR newest"),
    r(RBR, "RBR stale"),
    r(R.lsr, "LSR no data"),
    w(R.ier, 0x01),
    w(THR, 0x33),
    r(IIR, "IIR no-FIFO data"),
    r(RBR, "RBR 0x33"),
    r(IIR, "IIR no-FIFO drained"),
    w(R.ier, 0x04),
    w(THR, 0x01),
    w(THR, 0x02),
    r(IIR, "IIR line status"),
    r(R.lsr, "LSR OE"),
    r(IIR, "IIR after LSR"),
  ],
};

/** The guest: perform `ops` on UART0, keep each value read, then print them all and power off. */
function guest(ops: Op[]): number[] {
  const code = [asm.lui(T0, VIRT_UART0_BASE >>> 12), asm.auipc(S1, 0x10)];
  let k = 0;
  for (const op of ops) {
    if ("w" in op) code.push(...asm.li(T1, op.v), asm.sb(T1, T0, op.w));
    else code.push(asm.lbu(T1, T0, op.r), asm.sb(T1, S1, k++));
  }
  // Back to a plain transmitter: no DLAB, no loopback, no interrupts, FIFO off.
  code.push(asm.sb(0, T0, R.lcr), asm.sb(0, T0, R.mcr), asm.sb(0, T0, R.ier), asm.sb(0, T0, FCR));
  for (let i = 0; i < k; i++) {
    code.push(asm.lbu(T2, T0, R.lsr), asm.andi(T2, T2, 0x20), asm.beq(T2, 0, -8)); // wait for THRE
    code.push(asm.lbu(T1, S1, i), asm.sb(T1, T0, THR));
  }
  code.push(asm.lui(T0, VIRT_TEST_BASE >>> 12), ...asm.li(T1, FINISHER.pass), asm.sw(T1, T0, 0), asm.spin);
  return code;
}

function ours(ops: Op[]): number[] {
  const uart = new Uart16550({ irq: { set: () => {} }, output: () => {} });
  const got: number[] = [];
  for (const op of ops) {
    if ("w" in op) uart.write(op.w, 1, op.v);
    else got.push(uart.read(op.r, 1));
  }
  return got;
}

const skip = haveQemu() ? false : "needs qemu-system-riscv64 (apt: qemu-system-misc)";

for (const [name, ops] of Object.entries(scenarios)) {
  test(`UART as QEMU's: ${name}`, { skip }, () => {
    const run = runBareMetal(guest(ops));
    assert.equal(run.status, 0, `QEMU did not finish: ${run.stderr}`);
    const reads = ops.filter((op): op is { r: number; what: string } => "r" in op);
    const theirs = [...run.stdout];
    assert.equal(theirs.length, reads.length, "QEMU printed one byte per read");
    const mine = ours(ops);
    const hex = (v: number | undefined): string => `0x${(v ?? -1).toString(16)}`;
    const diffs = reads
      .map((op, i) => ({ what: op.what, qemu: theirs[i], corral: mine[i] }))
      .filter((d) => d.qemu !== d.corral)
      .map((d) => `${d.what}: QEMU ${hex(d.qemu)}, Corral ${hex(d.corral)}`);
    assert.deepEqual(diffs, []);
  });
}
