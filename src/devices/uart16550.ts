import { regCells } from "./bus.js";
import type { DtContext, DtNode, IrqLine, MmioDevice, MmioSize } from "./device.js";
import { arr, bool, fill, num, str, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * NS16550A register offsets (National Semiconductor PC16550D datasheet, table II), one byte each
 * (QEMU virt: no reg-shift). The register at an offset depends on the direction and on LCR.DLAB.
 */
export const UART_REG = {
  /** RBR (read) / THR (write); DLL when LCR.DLAB = 1. */
  data: 0,
  /** IER; DLM when LCR.DLAB = 1. */
  ier: 1,
  /** IIR (read) / FCR (write). */
  iirFcr: 2,
  lcr: 3,
  mcr: 4,
  lsr: 5,
  msr: 6,
  scr: 7,
} as const;

/** Register bits (datasheet, tables II and IV). */
export const IER_RDI = 0x01; // received data available
export const IER_THRI = 0x02; // transmitter holding register empty
export const IER_RLSI = 0x04; // receiver line status
export const IER_MSI = 0x08; // modem status
export const IIR_NONE = 0x01;
export const IIR_MSI = 0x00;
export const IIR_THRI = 0x02;
export const IIR_RDI = 0x04;
export const IIR_RLSI = 0x06;
export const IIR_TIMEOUT = 0x0c;
export const IIR_FIFO_ENABLED = 0xc0;
export const FCR_ENABLE = 0x01;
export const FCR_CLEAR_RX = 0x02;
export const FCR_CLEAR_TX = 0x04;
export const LCR_DLAB = 0x80;
export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;
export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

export const UART_SIZE = 0x100;
export const UART_FIFO_DEPTH = 16;
/** QEMU virt's UART0: PLIC source 10, input clock 3.6864 MHz. */
export const UART_DEFAULT_IRQ_SOURCE = 10;
export const UART_CLOCK_HZ = 3_686_400;
/** Receive FIFO trigger levels selected by FCR bits 7:6 (datasheet, table III). */
const RX_TRIGGER = [1, 4, 8, 14] as const;

export interface Uart16550Options {
  irq: IrqLine;
  /** Bytes the guest transmits, in order. */
  output: (bytes: Uint8Array | number) => void;
  /** The PLIC source the `irq` line is wired to, for the device tree (default 10, as QEMU). */
  irqSource?: number;
  /**
   * Keep host input in the host queue until the guest is ready to receive: received-data
   * interrupt on (IER.RDI) and Request To Send raised (MCR.RTS), which Linux's 8250 driver does
   * when a program opens the port, after resetting the FIFO and (while still polling, FIFO off)
   * reading RBR. Input that came earlier (typed ahead, or piped into `corral run`) would otherwise
   * be lost there. RTS/CTS flow control, in effect. Off for bare-metal programs, which may poll
   * without either.
   */
  holdInputUntilOpen?: boolean;
}

/**
 * The console UART. Transmission is instantaneous: THR and the transmitter are always empty to
 * the guest, so LSR.THRE and LSR.TEMT stay set. Host input waits in an unbounded host-side queue
 * and enters the 16-byte receive FIFO as the guest drains it, so nothing is ever dropped (no
 * overrun errors from the host side). With loopback (MCR.LOOP) on, transmitted bytes come back
 * as input and the modem inputs follow the modem outputs, as the 8250 driver's probe expects.
 * Where the datasheet leaves room, behaviour follows QEMU's serial device (hw/char/serial.c),
 * which uart16550.test.ts compares register by register.
 */
export class Uart16550 implements MmioDevice, Snapshottable {
  readonly name = "uart0";
  readonly size = UART_SIZE;
  private readonly irq: IrqLine;
  private readonly output: (bytes: Uint8Array | number) => void;
  private readonly irqSource: number;
  private readonly holdInput: boolean;
  private readonly rx = new Uint8Array(UART_FIFO_DEPTH);
  private rxHead = 0;
  private rxCount = 0;
  private readonly hostQueue: Uint8Array[] = [];
  private hostPos = 0;
  /** What RBR returns when FIFOs are off: the last byte received, even once read. */
  private rbr = 0;
  private ier = 0;
  private lcr = 0;
  /** OUT2 set at reset, as QEMU does. */
  private mcr = MCR_OUT2;
  private fcr = 0;
  private scr = 0;
  /** Divisor 12: 9600 baud from the 1.8432 MHz PC clock, QEMU's reset value. */
  private dll = 12;
  private dlm = 0;
  /** Overrun (LSR.OE), only possible in loopback; cleared by reading LSR. */
  private overrun = false;
  /** THRE interrupt latch: set when THR empties or THRI is enabled, cleared by IIR read or THR write. */
  private thrIpending = false;
  private irqLevel = false;

  constructor(opts: Uart16550Options) {
    this.irq = opts.irq;
    this.output = opts.output;
    this.irqSource = opts.irqSource ?? UART_DEFAULT_IRQ_SOURCE;
    this.holdInput = opts.holdInputUntilOpen === true;
  }

  /** Registers and received bytes not read yet (host input still queued included). */
  saveState(): SavedState {
    const queued = Buffer.concat(this.hostQueue).subarray(this.hostPos);
    return {
      rx: arr(this.rx),
      rxHead: this.rxHead,
      rxCount: this.rxCount,
      queued: queued.toString("base64"),
      rbr: this.rbr,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      overrun: this.overrun,
      thrIpending: this.thrIpending,
      irqLevel: this.irqLevel,
    };
  }
  restoreState(s: SavedState): void {
    fill(this.rx, s, "rx");
    this.rxHead = num(s, "rxHead") % UART_FIFO_DEPTH;
    this.rxCount = Math.min(num(s, "rxCount"), UART_FIFO_DEPTH);
    this.hostQueue.length = 0;
    this.hostPos = 0;
    const queued = Buffer.from(str(s, "queued"), "base64");
    if (queued.length > 0) this.hostQueue.push(new Uint8Array(queued));
    this.rbr = num(s, "rbr");
    this.ier = num(s, "ier");
    this.lcr = num(s, "lcr");
    this.mcr = num(s, "mcr");
    this.fcr = num(s, "fcr");
    this.scr = num(s, "scr");
    this.dll = num(s, "dll");
    this.dlm = num(s, "dlm");
    this.overrun = bool(s, "overrun");
    this.thrIpending = bool(s, "thrIpending");
    this.irqLevel = bool(s, "irqLevel");
  }

  /** Queue bytes typed on the host; they reach the guest as it reads them. */
  pushInput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.hostQueue.push(bytes.slice());
    this.fillRx();
    this.updateIrq();
  }

  /** Bytes received from the host that the guest has not read yet (FIFO plus host queue). */
  pendingInput(): number {
    let n = this.rxCount - this.hostPos;
    for (const chunk of this.hostQueue) n += chunk.length;
    return n;
  }

  read(offset: number, _size: MmioSize): number {
    switch (offset & 7) {
      case UART_REG.data:
        return this.lcr & LCR_DLAB ? this.dll : this.readRbr();
      case UART_REG.ier:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case UART_REG.iirFcr:
        return this.readIir();
      case UART_REG.lcr:
        return this.lcr;
      case UART_REG.mcr:
        return this.mcr;
      case UART_REG.lsr:
        return this.readLsr();
      case UART_REG.msr:
        return this.modemInputs();
      default:
        return this.scr;
    }
  }

  write(offset: number, _size: MmioSize, value: number): void {
    const v = value & 0xff;
    switch (offset & 7) {
      case UART_REG.data:
        if (this.lcr & LCR_DLAB) this.dll = v;
        else this.writeThr(v);
        break;
      case UART_REG.ier:
        if (this.lcr & LCR_DLAB) this.dlm = v;
        else this.writeIer(v & 0x0f);
        break;
      case UART_REG.iirFcr:
        this.writeFcr(v);
        break;
      case UART_REG.lcr:
        this.lcr = v;
        break;
      case UART_REG.mcr:
        this.writeMcr(v & 0x1f);
        break;
      case UART_REG.lsr:
      case UART_REG.msr:
        break; // read-only on the 16550A
      default:
        this.scr = v;
    }
    this.updateIrq();
  }

  describe(base: number, ctx: DtContext): DtNode {
    return {
      name: `serial@${base.toString(16)}`,
      props: {
        interrupts: ctx.irqCells(this.irqSource),
        "interrupt-parent": [ctx.irqParent],
        "clock-frequency": [UART_CLOCK_HZ],
        reg: regCells(base, this.size),
        compatible: "ns16550a",
      },
    };
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  private readRbr(): number {
    if (this.rxCount === 0) return this.fifoEnabled ? 0 : this.rbr;
    const b = this.rx[this.rxHead] as number;
    this.rxHead = (this.rxHead + 1) % UART_FIFO_DEPTH;
    this.rxCount--;
    this.fillRx();
    this.updateIrq();
    return b;
  }

  private readLsr(): number {
    const v = (this.rxCount > 0 ? LSR_DR : 0) | (this.overrun ? LSR_OE : 0) | LSR_THRE | LSR_TEMT;
    if (this.overrun) {
      this.overrun = false;
      this.updateIrq();
    }
    return v;
  }

  private writeThr(v: number): void {
    this.thrIpending = false;
    if (this.mcr & MCR_LOOP) this.receive(v);
    else this.output(v);
    // The byte leaves at once, so THR is empty again and THRE interrupts anew (datasheet 8.4).
    this.thrIpending = true;
  }

  private writeIer(v: number): void {
    // Enabling THRI while THR is empty raises the THRE interrupt (what 8250 drivers rely on to
    // start transmitting); disabling it drops any latched one.
    if (v & IER_THRI) {
      if (!(this.ier & IER_THRI)) this.thrIpending = true;
    } else {
      this.thrIpending = false;
    }
    this.ier = v;
    this.fillRx(); // held input (holdInputUntilOpen) enters once RDI and RTS are on
  }

  private writeFcr(v: number): void {
    // Toggling the FIFO enable resets both FIFOs; bits 1 and 2 reset one each and self-clear.
    const toggled = (v & FCR_ENABLE) !== (this.fcr & FCR_ENABLE);
    if (toggled || v & FCR_CLEAR_RX) {
      this.rxHead = 0;
      this.rxCount = 0;
    }
    // An emptied transmitter raises THRE anew (QEMU does this; THRI still gates it).
    if (toggled || v & FCR_CLEAR_TX) this.thrIpending = true;
    this.fcr = v & 0xc9;
    this.fillRx();
  }

  private writeMcr(v: number): void {
    this.mcr = v;
    this.fillRx(); // leaving loopback reconnects host input; RTS may release held input
  }

  /**
   * MSR. The host side has no modem lines, so outside loopback the peer always looks present
   * and ready (DCD, DSR, CTS) and the delta bits never set, as in QEMU with a non-tty backend.
   * In loopback QEMU reports the looped-back outputs without deltas, and so do we.
   */
  private modemInputs(): number {
    if (!(this.mcr & MCR_LOOP)) return MSR_DCD | MSR_DSR | MSR_CTS;
    // Loopback wires RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD (datasheet, MCR bit 4).
    return (
      (this.mcr & MCR_RTS ? MSR_CTS : 0) |
      (this.mcr & MCR_DTR ? MSR_DSR : 0) |
      (this.mcr & MCR_OUT1 ? MSR_RI : 0) |
      (this.mcr & MCR_OUT2 ? MSR_DCD : 0)
    );
  }

  /** The highest-priority pending interrupt (datasheet, table IV), without side effects. */
  private pendingInterrupt(): number {
    if (this.ier & IER_RLSI && this.overrun) return IIR_RLSI;
    if (this.ier & IER_RDI && this.rxCount > 0) {
      return this.fifoEnabled && this.rxCount < this.rxTrigger() ? IIR_TIMEOUT : IIR_RDI;
    }
    if (this.ier & IER_THRI && this.thrIpending) return IIR_THRI;
    return IIR_NONE; // no modem status interrupts: MSR never changes by itself (see modemInputs)
  }

  private readIir(): number {
    const id = this.pendingInterrupt();
    // Reading IIR while it reports THRE clears that interrupt (datasheet, table IV).
    if (id === IIR_THRI) {
      this.thrIpending = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
  }

  /**
   * Below the trigger level a real 16550 reports a character timeout after four character times
   * without FIFO activity; emulated input arrives in bursts, so the timeout is reported at once.
   */
  private rxTrigger(): number {
    return RX_TRIGGER[this.fcr >>> 6] as number;
  }

  /** A byte arriving at the receiver. Only loopback can overrun: host input waits its turn. */
  private receive(b: number): void {
    if (!this.fifoEnabled) {
      // The holding register is overwritten, with an overrun if unread (datasheet, LSR bit 1).
      if (this.rxCount > 0) this.overrun = true;
      this.rxHead = 0;
      this.rx[0] = b;
      this.rbr = b;
      this.rxCount = 1;
      return;
    }
    if (this.rxCount >= UART_FIFO_DEPTH) {
      this.overrun = true; // a full FIFO keeps its contents and loses the new byte
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % UART_FIFO_DEPTH] = b;
    this.rxCount++;
  }

  /** Move host input into the receive FIFO (one holding byte when FIFOs are off). */
  private fillRx(): void {
    if (this.mcr & MCR_LOOP) return; // loopback disconnects the serial input
    if (this.holdInput && !(this.ier & IER_RDI && this.mcr & MCR_RTS)) return;
    const cap = this.fifoEnabled ? UART_FIFO_DEPTH : 1;
    while (this.rxCount < cap) {
      const chunk = this.hostQueue[0];
      if (chunk === undefined) return;
      this.receive(chunk[this.hostPos] as number);
      if (++this.hostPos === chunk.length) {
        this.hostQueue.shift();
        this.hostPos = 0;
      }
    }
  }

  private updateIrq(): void {
    const level = this.pendingInterrupt() !== IIR_NONE;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq.set(level);
  }
}

/** The `stdout-path` QEMU puts in /chosen for the UART at `base` (a child of /soc). */
export function uartStdoutPath(base: number): string {
  return `/soc/serial@${base.toString(16)}`;
}
