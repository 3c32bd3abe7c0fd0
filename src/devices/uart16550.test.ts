import { test } from "node:test";
import assert from "node:assert/strict";
import {
  IER_RDI,
  IER_RLSI,
  IER_THRI,
  IIR_FIFO_ENABLED,
  IIR_NONE,
  IIR_RDI,
  IIR_RLSI,
  IIR_THRI,
  IIR_TIMEOUT,
  LSR_DR,
  LSR_OE,
  LSR_TEMT,
  LSR_THRE,
  UART_FIFO_DEPTH,
  UART_REG as R,
  Uart16550,
} from "./uart16550.js";

/** A UART with its interrupt line and transmitted bytes recorded. */
function setup(holdInputUntilOpen = false): { uart: Uart16550; out: number[]; irq: { level: boolean; edges: number } } {
  const out: number[] = [];
  const irq = { level: false, edges: 0 };
  const uart = new Uart16550({
    irq: {
      set: (l) => {
        irq.level = l;
        irq.edges++;
      },
    },
    output: (b) => {
      if (typeof b === "number") out.push(b);
      else out.push(...b);
    },
    holdInputUntilOpen,
  });
  return { uart, out, irq };
}

const rd = (u: Uart16550, reg: number): number => u.read(reg, 1);
const wr = (u: Uart16550, reg: number, v: number): void => u.write(reg, 1, v);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test("register offsets are the 16550's, one byte apart", () => {
  assert.deepEqual([R.data, R.ier, R.iirFcr, R.lcr, R.mcr, R.lsr, R.msr, R.scr], [0, 1, 2, 3, 4, 5, 6, 7]);
});

test("OpenSBI's uart8250 init, putc and getc", () => {
  const { uart, out } = setup();
  // uart8250_init at 3.6864 MHz, 115200 baud: divisor 2.
  wr(uart, R.ier, 0x00);
  wr(uart, R.lcr, 0x80);
  wr(uart, R.data, 2); // DLL
  wr(uart, R.ier, 0); // DLM
  assert.equal(rd(uart, R.data), 2, "DLL reads back with DLAB set");
  assert.equal(rd(uart, R.ier), 0);
  wr(uart, R.lcr, 0x03);
  wr(uart, R.iirFcr, 0x01);
  wr(uart, R.mcr, 0x00);
  rd(uart, R.lsr);
  rd(uart, R.data);
  wr(uart, R.scr, 0x00);
  assert.equal(rd(uart, R.lcr), 0x03);
  assert.equal(rd(uart, R.ier), 0, "IER, not DLM, once DLAB is clear");

  for (const ch of bytes("OpenSBI\n")) {
    while ((rd(uart, R.lsr) & LSR_THRE) === 0);
    wr(uart, R.data, ch);
  }
  assert.equal(Buffer.from(out).toString(), "OpenSBI\n");

  const getc = (): number => (rd(uart, R.lsr) & LSR_DR ? rd(uart, R.data) : -1);
  assert.equal(getc(), -1);
  uart.pushInput(bytes("y"));
  assert.equal(getc(), "y".charCodeAt(0));
  assert.equal(getc(), -1);
});

test("Linux 8250 probe: scratch, IER, loopback and FIFO checks see a 16550A", () => {
  const { uart, out } = setup();
  wr(uart, R.scr, 0xa5);
  assert.equal(rd(uart, R.scr), 0xa5);
  wr(uart, R.ier, 0x0f);
  assert.equal(rd(uart, R.ier), 0x0f);
  wr(uart, R.ier, 0xff);
  assert.equal(rd(uart, R.ier), 0x0f, "IER bits 7:4 are always zero on a 16550A");
  wr(uart, R.ier, 0);

  // serial8250 autoconfig: loopback with RTS and OUT2 must show CTS and DCD only.
  wr(uart, R.mcr, 0x10 | 0x0a);
  assert.equal(rd(uart, R.msr) & 0xf0, 0x90);
  wr(uart, R.mcr, 0x1f);
  assert.equal(rd(uart, R.msr) & 0xf0, 0xf0);
  wr(uart, R.data, 0x5a); // loopback: the byte comes back instead of leaving
  assert.equal(rd(uart, R.lsr) & LSR_DR, LSR_DR);
  assert.equal(rd(uart, R.data), 0x5a);
  assert.deepEqual(out, []);
  wr(uart, R.mcr, 0);
  assert.equal(rd(uart, R.msr) & 0xf0, 0xb0, "outside loopback the peer is present: DCD, DSR, CTS");

  // FIFO probe: IIR bits 7:6 read 11 once FCR enables the FIFOs.
  wr(uart, R.iirFcr, 0x01);
  assert.equal(rd(uart, R.iirFcr) >> 6, 3);
  wr(uart, R.iirFcr, 0x00);
  assert.equal(rd(uart, R.iirFcr) >> 6, 0);
  assert.equal(rd(uart, R.lsr), LSR_THRE | LSR_TEMT);
  // Offsets alias every 8 bytes over the 256-byte window.
  assert.equal(rd(uart, 0x80 + R.lsr), LSR_THRE | LSR_TEMT);
});

test("THRE interrupt: raised when enabled or when THR drains, cleared by IIR read or THR write", () => {
  const { uart, out, irq } = setup();
  wr(uart, R.iirFcr, 0x07);
  assert.equal(irq.level, false);
  // Linux's startup THRE test: enable THRI, read IIR, disable, enable, read IIR.
  wr(uart, R.ier, IER_THRI);
  assert.equal(irq.level, true);
  assert.equal(rd(uart, R.iirFcr), IIR_THRI | IIR_FIFO_ENABLED);
  assert.equal(irq.level, false, "reading IIR that reports THRE clears it");
  assert.equal(rd(uart, R.iirFcr), IIR_NONE | IIR_FIFO_ENABLED);
  wr(uart, R.ier, 0);
  wr(uart, R.ier, IER_THRI);
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_THRI);

  // Transmitting from the interrupt handler: each byte drains at once and THRE interrupts anew.
  wr(uart, R.data, 0x41);
  assert.equal(irq.level, true);
  wr(uart, R.data, 0x42);
  assert.equal(irq.level, true);
  wr(uart, R.ier, 0); // nothing left to send: the driver stops TX
  assert.equal(irq.level, false);
  assert.deepEqual(out, [0x41, 0x42]);
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_NONE);
});

test("receive interrupts: data available at the trigger level, timeout below it", () => {
  const { uart, irq } = setup();
  wr(uart, R.iirFcr, 0x81); // FIFO on, trigger level 8
  wr(uart, R.ier, IER_RDI);
  uart.pushInput(bytes("abc"));
  assert.equal(irq.level, true);
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_TIMEOUT);
  uart.pushInput(bytes("defgh"));
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_RDI);
  let got = "";
  while (rd(uart, R.lsr) & LSR_DR) got += String.fromCharCode(rd(uart, R.data));
  assert.equal(got, "abcdefgh");
  assert.equal(irq.level, false);
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_NONE);
});

test("received data outranks THRE; reading IIR then does not clear THRE", () => {
  const { uart, irq } = setup();
  wr(uart, R.iirFcr, 0x01);
  wr(uart, R.ier, IER_RDI | IER_THRI);
  uart.pushInput(bytes("z"));
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_RDI, "trigger level 1: data available");
  assert.equal(rd(uart, R.data), "z".charCodeAt(0));
  assert.equal(irq.level, true, "THRE is still pending");
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_THRI);
  assert.equal(irq.level, false);
});

test("host input beyond the FIFO waits on the host side and is never dropped", () => {
  const { uart } = setup();
  const input = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  wr(uart, R.iirFcr, 0x01);
  uart.pushInput(input.subarray(0, 400));
  uart.pushInput(input.subarray(400));
  assert.equal(uart.pendingInput(), 1000);
  const got: number[] = [];
  while (rd(uart, R.lsr) & LSR_DR) got.push(rd(uart, R.data));
  assert.deepEqual(Uint8Array.from(got), input);
  assert.equal(uart.pendingInput(), 0);
  assert.equal(UART_FIFO_DEPTH, 16);

  // With FIFOs off the UART holds one byte at a time; the rest still waits.
  wr(uart, R.iirFcr, 0x00);
  uart.pushInput(bytes("xyz"));
  assert.equal(uart.pendingInput(), 3);
  assert.equal(rd(uart, R.data), "x".charCodeAt(0));
  assert.equal(rd(uart, R.data), "y".charCodeAt(0));
  assert.equal(rd(uart, R.data), "z".charCodeAt(0));
  assert.equal(rd(uart, R.lsr) & LSR_DR, 0);
});

test("holdInputUntilOpen: input waits through Linux's open sequence and none of it is lost", () => {
  const { uart, irq } = setup(true);
  uart.pushInput(bytes("uname -m\n"));
  // What Linux's 8250 driver does when a program opens the port (logged from the default guest):
  // RDI on while the FIFO is still off and RTS low, RBR read to clear it, then the FIFO
  // enabled (which resets it), then DTR | RTS | OUT2.
  wr(uart, R.ier, IER_RDI | IER_RLSI);
  assert.equal(rd(uart, R.lsr) & LSR_DR, 0, "nothing received before RTS");
  rd(uart, R.data);
  wr(uart, R.iirFcr, 0x81);
  assert.equal(irq.level, false);
  wr(uart, R.mcr, 0x0b);
  assert.equal(irq.level, true, "RDI raised once the driver is ready");
  const got: number[] = [];
  while (rd(uart, R.lsr) & LSR_DR) got.push(rd(uart, R.data));
  assert.equal(Buffer.from(got).toString(), "uname -m\n");
  // Without the option, a program that polls (IER 0, RTS low) reads input as before.
  const { uart: polled } = setup();
  polled.pushInput(bytes("k"));
  assert.equal(rd(polled, R.data), "k".charCodeAt(0));
});

test("loopback disconnects host input until it is switched off", () => {
  const { uart } = setup();
  wr(uart, R.iirFcr, 0x01);
  wr(uart, R.mcr, 0x10);
  uart.pushInput(bytes("q"));
  assert.equal(rd(uart, R.lsr) & LSR_DR, 0);
  wr(uart, R.mcr, 0x00);
  assert.equal(rd(uart, R.data), "q".charCodeAt(0));
});

test("FCR clears the receive FIFO", () => {
  const { uart } = setup();
  wr(uart, R.iirFcr, 0x01);
  uart.pushInput(bytes("stale"));
  wr(uart, R.iirFcr, 0x03);
  assert.equal(rd(uart, R.lsr) & LSR_DR, 0);
  assert.equal(uart.pendingInput(), 0);
});

test("a loopback overrun sets LSR.OE and raises the line status interrupt until LSR is read", () => {
  const { uart, irq } = setup();
  wr(uart, R.iirFcr, 0x01);
  wr(uart, R.mcr, 0x10);
  wr(uart, R.ier, IER_RLSI);
  for (let i = 0; i < UART_FIFO_DEPTH; i++) wr(uart, R.data, i);
  assert.equal(irq.level, false);
  wr(uart, R.data, 0xee); // the 17th byte does not fit
  assert.equal(irq.level, true);
  assert.equal(rd(uart, R.iirFcr) & 0x0f, IIR_RLSI);
  assert.equal(rd(uart, R.lsr) & LSR_OE, LSR_OE);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, R.lsr) & LSR_OE, 0);
  const got: number[] = [];
  while (rd(uart, R.lsr) & LSR_DR) got.push(rd(uart, R.data));
  assert.deepEqual(got, [...Array(UART_FIFO_DEPTH).keys()]);
});
