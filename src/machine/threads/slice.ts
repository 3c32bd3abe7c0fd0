/**
 * How many instructions a hart on a thread of its own runs before it looks at its slots again
 * (hart-worker.ts): SLICE, or up to LONG_SLICE while it runs compiled code fast.
 *
 * Between two slices a hart's thread reads its doorbell, requests and pause slots, the clock, its
 * timer, and the other harts' posted code (code-share.ts), and enters compiled code again. A
 * CPU-bound loop retires 20,000 instructions in under 10 µs, so at SLICE those few µs were a
 * noticeable share of its time (docs/benchmarks.md, "smp4"); the one-thread scheduler grows a
 * lone hart's slice for the same reason (machine.ts LONG_SLICE). Nothing waits on the length:
 * another hart's request (an IPI, a remote fence, hart start, a pause) sets the stop slot, which
 * makes compiled code hand back at its next block (hart-slots.ts request), so a long slice does
 * not delay it; a device interrupt is seen at the slice's end, at most LONG_MS later; the hart's
 * own timer bounds the budget (its deadline at the last slice's speed), and interpreted code still
 * ends the slice after SLICE instructions (runHart's `slow`).
 */
import type { Clock } from "../clock.js";

/** Instructions per slice while the code is cold or mixed. */
export const SLICE = 20_000;
/** The most a slice grows to. */
const LONG_SLICE = 320_000;
/** A slice shorter than this (host ms) lets the next grow. */
const QUICK_MS = 0.5;
/** A slice longer than this (host ms) sends the next back to SLICE. */
const LONG_MS = 1;
/** Instructions per host ms a slice must reach to grow (500 MIPS: compiled loops). */
const FAST_RATE = 500_000;

export class SliceSize {
  private slice = SLICE;
  /** `grow` false: always SLICE (a profile samples once a slice). */
  constructor(private readonly grow = true) {}
  /** Instructions per host ms in the last slice. */
  private rate = 0;

  /** The next slice's budget: past SLICE only as far as the hart's timer deadline `stimecmp`. */
  budget(stimecmp: number, clock: Pick<Clock, "msUntil">): number {
    if (this.slice <= SLICE) return this.slice;
    const ms = clock.msUntil(stimecmp);
    return Math.max(SLICE, Math.min(this.slice, Math.floor(ms * this.rate)));
  }

  /** The last slice took `ms` host milliseconds for `retired` instructions. */
  after(ms: number, retired: number): void {
    this.rate = retired / Math.max(ms, 1e-3);
    if (!this.grow || ms > LONG_MS || this.rate < FAST_RATE) this.slice = SLICE;
    else if (ms < QUICK_MS) this.slice = Math.min(LONG_SLICE, this.slice << 1);
  }
}
