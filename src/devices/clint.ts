import type { Clock } from "../machine/clock.js";
import { hartInterrupts, regCells, WordRegisterDevice } from "./bus.js";
import type { DtContext, DtNode, InterruptTarget } from "./device.js";
import { arr, fill, num, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * Register layout of the SiFive CLINT, which is the RISC-V ACLINT MSWI device followed by an
 * MTIMER device (ACLINT spec, sections 2 and 3; QEMU virt maps it at 0x2000000). Offsets are from
 * the device base; every register is 32 bits wide, 64-bit ones are two words, low word first.
 */
export const CLINT_LAYOUT = {
  /** msip[hart]: bit 0 is the hart's machine software interrupt (ACLINT MSWI, 2.1). */
  msip: 0x0,
  msipStride: 4,
  /** mtimecmp[hart]: 64-bit compare value (ACLINT MTIMER, 3.1). */
  mtimecmp: 0x4000,
  mtimecmpStride: 8,
  /** mtime: 64-bit free-running counter (privileged spec 3.2.1). */
  mtime: 0xbff8,
  size: 0x10000,
  /** SiFive's layout leaves room for 4095 harts in the MSWI block. */
  maxHarts: 4095,
} as const;

/** mip bits this device drives (privileged spec 3.1.9). */
export const MIP_MSIP = 1 << 3;
export const MIP_MTIP = 1 << 7;

const TWO32 = 0x1_0000_0000;

/**
 * Core-local interruptor: per-hart software interrupts (IPIs) and timer compare registers.
 *
 * mtime is the Clock's tick count plus an offset a guest write to mtime sets. Because time passes
 * without any register access, the machine calls `poll()` between slices of guest execution; a
 * write to mtimecmp re-evaluates that hart's MTIP at once.
 */
export class Clint extends WordRegisterDevice implements Snapshottable {
  readonly name = "clint";
  readonly size = CLINT_LAYOUT.size;
  private readonly msip: Uint8Array;
  /** mtimecmp as two u32 words per hart ([2h] low, [2h+1] high): exact for all 64 bits. */
  private readonly cmpWords: Uint32Array;
  /** MTIP level last delivered to each hart, so poll() only signals changes. */
  private readonly mtip: Uint8Array;
  /** mtime minus the Clock's ticks; changed only by guest writes to mtime. */
  private offset = 0;

  constructor(
    private readonly clock: Clock,
    private readonly harts: readonly InterruptTarget[],
  ) {
    super();
    if (harts.length > CLINT_LAYOUT.maxHarts)
      throw new RangeError(`the CLINT serves at most ${CLINT_LAYOUT.maxHarts} harts`);
    this.msip = new Uint8Array(harts.length);
    // The reset value of mtimecmp is unspecified (ACLINT 3.1). QEMU resets it to 0, so MTIP is
    // pending from the start; firmware programs mtimecmp before it enables MTIE (OpenSBI writes
    // all ones at hart init). We do the same, and deliver that initial MTIP now.
    this.cmpWords = new Uint32Array(harts.length * 2);
    this.mtip = new Uint8Array(harts.length);
    this.poll();
  }

  /** The current mtime, which the CPU's `time` CSR must also read (privileged spec 3.2.1). */
  mtime(): number {
    return this.clock.ticks() + this.offset;
  }

  /**
   * Bring every hart's MTIP up to date with mtime and return the earliest deadline still in the
   * future, in Clock ticks (what `Clock.msUntil` takes), or Infinity when no hart has one that
   * a 64-bit counter can reach in practice (above 2^53 ticks: centuries).
   */
  poll(): number {
    const now = this.mtime();
    let next = Infinity;
    for (let h = 0; h < this.harts.length; h++) {
      const cmp = this.compare(h);
      this.setMtip(h, now >= cmp);
      if (cmp > now && cmp < next && Number.isSafeInteger(cmp)) next = cmp;
    }
    return next === Infinity ? Infinity : next - this.offset;
  }

  /** Registers as they are; mtime itself is the machine's clock (Machine.saveState) plus `offset`. */
  saveState(): SavedState {
    return { msip: arr(this.msip), cmp: arr(this.cmpWords), mtip: arr(this.mtip), offset: this.offset };
  }
  /** Levels already delivered to the harts are restored with the harts (their mip), not sent again. */
  restoreState(s: SavedState): void {
    fill(this.msip, s, "msip");
    fill(this.cmpWords, s, "cmp");
    fill(this.mtip, s, "mtip");
    this.offset = num(s, "offset");
  }

  describe(base: number, ctx: DtContext): DtNode {
    return {
      name: `clint@${base.toString(16)}`,
      props: {
        "interrupts-extended": hartInterrupts(ctx, this.harts.length, [3, 7]), // mip bit numbers of MSIP and MTIP
        reg: regCells(base, this.size),
        compatible: ["sifive,clint0", "riscv,clint0"],
      },
    };
  }

  protected read32(offset: number): number {
    const L = CLINT_LAYOUT;
    if (offset < L.mtimecmp) {
      const h = offset / L.msipStride;
      return h < this.harts.length ? (this.msip[h] as number) : 0;
    }
    if (offset >= L.mtime && offset < L.mtime + 8) {
      const now = this.mtime();
      return offset === L.mtime ? now % TWO32 : Math.floor(now / TWO32) % TWO32;
    }
    const word = (offset - L.mtimecmp) / 4;
    return word < this.cmpWords.length ? (this.cmpWords[word] as number) : 0;
  }

  protected write32(offset: number, value: number): void {
    const L = CLINT_LAYOUT;
    if (offset < L.mtimecmp) {
      const h = offset / L.msipStride;
      if (h >= this.harts.length) return;
      const bit = value & 1; // msip bits 31:1 are hardwired to zero (ACLINT 2.1)
      this.msip[h] = bit;
      const hart = this.harts[h] as InterruptTarget;
      hart.setPending(MIP_MSIP, bit === 1);
      if (bit === 1) hart.wake();
      return;
    }
    if (offset >= L.mtime && offset < L.mtime + 8) {
      // A store to one half keeps the other half of the running counter (ACLINT 3.2).
      const now = this.mtime();
      const lo = offset === L.mtime ? value : now % TWO32;
      const hi = offset === L.mtime ? Math.floor(now / TWO32) % TWO32 : value;
      this.offset = hi * TWO32 + lo - this.clock.ticks();
      this.poll();
      return;
    }
    const word = (offset - L.mtimecmp) / 4;
    if (word >= this.cmpWords.length) return;
    this.cmpWords[word] = value;
    const h = word >>> 1;
    this.setMtip(h, this.mtime() >= this.compare(h));
  }

  /** mtimecmp of hart h as a number: exact below 2^53, and above it still larger than any mtime. */
  private compare(h: number): number {
    return (this.cmpWords[2 * h + 1] as number) * TWO32 + (this.cmpWords[2 * h] as number);
  }

  private setMtip(h: number, level: boolean): void {
    const v = level ? 1 : 0;
    if (this.mtip[h] === v) return;
    this.mtip[h] = v;
    const hart = this.harts[h] as InterruptTarget;
    hart.setPending(MIP_MTIP, level);
    if (level) hart.wake();
  }
}
