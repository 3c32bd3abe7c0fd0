import type { Clock } from "../machine/clock.js";
import { regCells, WordRegisterDevice } from "./bus.js";
import type { DtContext, DtNode, IrqLine } from "./device.js";
import { big, bool, num, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * Register layout of the Goldfish RTC (Android emulator's "goldfish" board; QEMU virt maps one at
 * 0x101000, PLIC source 11; Linux drivers/rtc/rtc-goldfish.c). Time and alarm are 64-bit
 * nanoseconds since the Unix epoch, each as two 32-bit registers.
 */
export const GOLDFISH_RTC = {
  /** R: the current time's low word; latches its high word into TIME_HIGH. W: set the low word. */
  timeLow: 0x00,
  /** R: the high word latched by the last TIME_LOW read. W: set the high word. */
  timeHigh: 0x04,
  /** R/W: the alarm's low word; a write arms the alarm (the driver writes ALARM_HIGH first). */
  alarmLow: 0x08,
  alarmHigh: 0x0c,
  /** R/W bit 0: the alarm interrupt reaches the interrupt line. */
  irqEnabled: 0x10,
  /** W: disarm the alarm. */
  clearAlarm: 0x14,
  /** R: 1 while an alarm is armed and has not fired. */
  alarmStatus: 0x18,
  /** W: lower the interrupt a fired alarm raised. */
  clearInterrupt: 0x1c,
  size: 0x1000,
} as const;

const TWO32 = 0x1_0000_0000n;
const LOW = 0xffff_ffffn;

export interface GoldfishRtcOptions {
  /** The machine's clock: the alarm is a deadline on it, so an idle machine sleeps until then. */
  clock: Clock;
  irq: IrqLine;
  /** The interrupt's PLIC source number (QEMU virt: 11), for the device tree. */
  irqSource: number;
  /** The host's wall-clock time in nanoseconds since the epoch; read, never set. */
  wallNs?: () => bigint;
}

/**
 * A wall clock for the guest: the host's time plus an offset. A guest write to TIME moves only
 * that offset (the guest's view), never the host's clock.
 *
 * The alarm compares against the same time. The machine polls it between slices (Machine.timers)
 * and sleeps until its deadline when idle; with no alarm armed it asks for no wake-up at all.
 */
export class GoldfishRtc extends WordRegisterDevice implements Snapshottable {
  readonly name = "rtc";
  readonly size = GOLDFISH_RTC.size;
  /** Guest time minus host time, in ns; changed only by guest writes to TIME_LOW/TIME_HIGH. */
  private offset = 0n;
  private latchedHigh = 0;
  private alarm = 0n;
  private armed = false;
  private irqEnabled = false;
  private pending = false;
  private readonly wallNs: () => bigint;

  constructor(private readonly o: GoldfishRtcOptions) {
    super();
    this.wallNs = o.wallNs ?? ((): bigint => BigInt(Date.now()) * 1_000_000n);
  }

  /**
   * The guest's offset from the host's wall clock goes with it, so a restored guest reads the
   * current date (plus any offset it set itself): its wall clock does not stay at the snapshot's.
   */
  saveState(): SavedState {
    return {
      offset: String(this.offset),
      latchedHigh: this.latchedHigh,
      alarm: String(this.alarm),
      armed: this.armed,
      irqEnabled: this.irqEnabled,
      pending: this.pending,
    };
  }
  restoreState(s: SavedState): void {
    this.offset = big(s, "offset");
    this.latchedHigh = num(s, "latchedHigh");
    this.alarm = big(s, "alarm");
    this.armed = bool(s, "armed");
    this.irqEnabled = bool(s, "irqEnabled");
    this.pending = bool(s, "pending");
  }

  /** The guest's time in ns since the epoch. */
  now(): bigint {
    return this.wallNs() + this.offset;
  }

  /**
   * Fire an alarm whose time has come; return the next deadline in Clock ticks (Clock.msUntil),
   * or Infinity when no alarm is armed.
   */
  poll(): number {
    if (!this.armed) return Infinity;
    const left = this.alarm - this.now();
    if (left <= 0n) {
      this.fire();
      return Infinity;
    }
    const nsPerTick = 1e9 / this.o.clock.hz;
    return this.o.clock.ticks() + Math.ceil(Number(left) / nsPerTick);
  }

  describe(base: number, ctx: DtContext): DtNode {
    return {
      name: `rtc@${base.toString(16)}`,
      props: {
        interrupts: ctx.irqCells(this.o.irqSource),
        "interrupt-parent": [ctx.irqParent],
        reg: regCells(base, this.size),
        compatible: "google,goldfish-rtc",
      },
    };
  }

  protected read32(offset: number): number {
    const R = GOLDFISH_RTC;
    switch (offset) {
      case R.timeLow: {
        const t = BigInt.asUintN(64, this.now());
        this.latchedHigh = Number(t / TWO32);
        return Number(t & LOW);
      }
      case R.timeHigh:
        return this.latchedHigh;
      case R.alarmLow:
        return Number(this.alarm & LOW);
      case R.alarmHigh:
        return Number(this.alarm / TWO32);
      case R.irqEnabled:
        return this.irqEnabled ? 1 : 0;
      case R.alarmStatus:
        return this.armed ? 1 : 0;
      default:
        return 0;
    }
  }

  protected write32(offset: number, value: number): void {
    const R = GOLDFISH_RTC;
    const v = BigInt(value);
    switch (offset) {
      case R.timeLow:
      case R.timeHigh: {
        // One word of the running time is replaced, the other kept: the guest's offset moves.
        const t = BigInt.asUintN(64, this.now());
        const set = offset === R.timeLow ? (t & ~LOW) | v : (v * TWO32) | (t & LOW);
        this.offset += set - t;
        return;
      }
      case R.alarmHigh:
        this.alarm = (v * TWO32) | (this.alarm & LOW);
        return;
      case R.alarmLow:
        this.alarm = (this.alarm & ~LOW) | v;
        this.armed = true;
        this.poll();
        return;
      case R.irqEnabled:
        this.irqEnabled = (value & 1) === 1;
        this.update();
        return;
      case R.clearAlarm:
        this.armed = false;
        return;
      case R.clearInterrupt:
        this.pending = false;
        this.update();
        return;
    }
  }

  private fire(): void {
    this.armed = false;
    this.pending = true;
    this.update();
  }

  /** The interrupt line: a fired alarm, while its interrupt is enabled. */
  private update(): void {
    this.o.irq.set(this.pending && this.irqEnabled);
  }
}
