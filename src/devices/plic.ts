import { hartInterrupts, regCells, WordRegisterDevice } from "./bus.js";
import type { DtContext, DtNode, InterruptTarget, IrqLine, WiredIrqController } from "./device.js";
import { arr, fill, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * Register layout of the SiFive PLIC as QEMU's virt board configures it (RISC-V PLIC spec,
 * "Memory Map"; QEMU include/hw/riscv/virt.h: 96 source ids, 3 priority bits, contexts "MS" per
 * hart). Every register is 32 bits wide.
 */
export const PLIC_LAYOUT = {
  /** priority[src] at 4 * src; source 0 does not exist. */
  priority: 0x0,
  /** Pending bit of source N: bit N % 32 of word N / 32. */
  pending: 0x1000,
  /** Enable bits of context c: 0x80 bytes from 0x2000 + 0x80 * c. */
  enable: 0x2000,
  enableStride: 0x80,
  /** Threshold of context c at 0x200000 + 0x1000 * c, claim/complete 4 bytes after. */
  context: 0x200000,
  contextStride: 0x1000,
  claim: 0x4,
  size: 0x600000,
} as const;

/** Source ids 0..95; 0 means "no interrupt", so 1..95 are usable (QEMU VIRT_IRQCHIP_NUM_SOURCES). */
export const PLIC_NUM_SOURCES = 96;
/** 3 priority bits: levels 0 (never) to 7 (QEMU VIRT_IRQCHIP_NUM_PRIO_BITS). */
export const PLIC_MAX_PRIORITY = 7;

/** mip bits a context drives: even contexts are M-mode, odd ones S-mode (privileged spec 3.1.9). */
export const MIP_MEIP = 1 << 11;
export const MIP_SEIP = 1 << 9;

const WORDS = Math.ceil(PLIC_NUM_SOURCES / 32);

/**
 * Platform-level interrupt controller: gathers device interrupt lines and routes them by priority
 * to each hart's M-mode and S-mode external interrupt bits.
 *
 * Gateways are level-triggered (PLIC spec, "Interrupt Gateways"): the first assertion of a line
 * becomes a request (pending bit); the request stays pending even if the line drops before it is
 * claimed, as the spec says and QEMU does. A claim takes it out of the pending set; further
 * assertions are held back until the completion, after which a line that is still high makes a
 * new request at once.
 */
export class Plic extends WordRegisterDevice implements Snapshottable, WiredIrqController {
  readonly name = "plic";
  readonly size = PLIC_LAYOUT.size;
  private readonly priority = new Uint8Array(PLIC_NUM_SOURCES);
  private readonly level = new Uint32Array(WORDS);
  private readonly pending = new Uint32Array(WORDS);
  /** Claimed and not yet completed: the gateway forwards nothing new for these. */
  private readonly claimed = new Uint32Array(WORDS);
  private readonly enable: Uint32Array;
  private readonly threshold: Uint8Array;
  /** External interrupt level last delivered to each context. */
  private readonly eip: Uint8Array;
  private readonly contexts: number;

  constructor(private readonly harts: readonly InterruptTarget[]) {
    super();
    this.contexts = harts.length * 2;
    this.enable = new Uint32Array(this.contexts * WORDS);
    this.threshold = new Uint8Array(this.contexts);
    this.eip = new Uint8Array(this.contexts);
  }

  /** The line device `source` (1..95) drives. */
  irq(source: number): IrqLine {
    if (!Number.isInteger(source) || source < 1 || source >= PLIC_NUM_SOURCES) {
      throw new RangeError(`PLIC source ${source} does not exist (valid: 1..${PLIC_NUM_SOURCES - 1})`);
    }
    const word = source >>> 5;
    const bit = 1 << (source & 31);
    return {
      set: (high: boolean): void => {
        const old = this.level[word] as number;
        this.level[word] = high ? old | bit : old & ~bit;
        if (!high || old & bit) return;
        if (((this.pending[word] as number) | (this.claimed[word] as number)) & bit) return;
        this.pending[word] = (this.pending[word] as number) | bit;
        this.update();
      },
    };
  }

  saveState(): SavedState {
    return {
      priority: arr(this.priority),
      level: arr(this.level),
      pending: arr(this.pending),
      claimed: arr(this.claimed),
      enable: arr(this.enable),
      threshold: arr(this.threshold),
      eip: arr(this.eip),
    };
  }
  /** The lines' levels come back with it; what was delivered to the harts comes back with them. */
  restoreState(s: SavedState): void {
    fill(this.priority, s, "priority");
    fill(this.level, s, "level");
    fill(this.pending, s, "pending");
    fill(this.claimed, s, "claimed");
    fill(this.enable, s, "enable");
    fill(this.threshold, s, "threshold");
    fill(this.eip, s, "eip");
  }

  describe(base: number, ctx: DtContext): DtNode {
    const ints = hartInterrupts(ctx, this.harts.length, [11, 9]); // contexts 2h (MEIP) and 2h+1 (SEIP)
    return {
      name: `plic@${base.toString(16)}`,
      props: {
        phandle: [ctx.irqParent],
        // The number of usable sources, 1..95 (Linux's binding). QEMU 7.2 writes 96 here, the
        // count including source 0; later QEMU writes 95.
        "riscv,ndev": [PLIC_NUM_SOURCES - 1],
        reg: regCells(base, this.size),
        "interrupts-extended": ints,
        "interrupt-controller": null,
        compatible: ["sifive,plic-1.0.0", "riscv,plic0"],
        "#address-cells": [0],
        "#interrupt-cells": [1],
      },
    };
  }

  protected read32(offset: number): number {
    const L = PLIC_LAYOUT;
    if (offset < L.pending) {
      const src = offset >>> 2;
      return src < PLIC_NUM_SOURCES ? (this.priority[src] as number) : 0;
    }
    if (offset < L.enable) {
      const w = (offset - L.pending) >>> 2;
      return w < WORDS ? this.pendingWord(w) : 0;
    }
    if (offset < L.context) {
      const ctx = Math.floor((offset - L.enable) / L.enableStride);
      const w = ((offset - L.enable) % L.enableStride) >>> 2;
      return ctx < this.contexts && w < WORDS ? (this.enable[ctx * WORDS + w] as number) : 0;
    }
    const ctx = Math.floor((offset - L.context) / L.contextStride);
    if (ctx >= this.contexts) return 0;
    const reg = (offset - L.context) % L.contextStride;
    if (reg === 0) return this.threshold[ctx] as number;
    if (reg === L.claim) return this.claim(ctx);
    return 0;
  }

  protected write32(offset: number, value: number): void {
    const L = PLIC_LAYOUT;
    if (offset < L.pending) {
      const src = offset >>> 2;
      // WARL: only the implemented low bits hold (PLIC spec, "Interrupt Priorities").
      if (src > 0 && src < PLIC_NUM_SOURCES) this.priority[src] = value & PLIC_MAX_PRIORITY;
    } else if (offset < L.enable) {
      return; // pending bits are read-only
    } else if (offset < L.context) {
      const ctx = Math.floor((offset - L.enable) / L.enableStride);
      const w = ((offset - L.enable) % L.enableStride) >>> 2;
      if (ctx >= this.contexts || w >= WORDS) return;
      // Bit 0 of word 0 is the non-existent source 0, hardwired to zero (spec, "Interrupt Enables").
      this.enable[ctx * WORDS + w] = w === 0 ? value & ~1 : value;
    } else {
      const ctx = Math.floor((offset - L.context) / L.contextStride);
      if (ctx >= this.contexts) return;
      const reg = (offset - L.context) % L.contextStride;
      if (reg === 0) this.threshold[ctx] = value & PLIC_MAX_PRIORITY;
      else if (reg === L.claim) this.complete(ctx, value);
      else return;
    }
    this.update();
  }

  private pendingWord(w: number): number {
    return (this.pending[w] as number) >>> 0;
  }

  /**
   * The best pending, enabled source of context `ctx` whose priority exceeds its threshold;
   * ties go to the lowest id (PLIC spec, "Interrupt Identifiers"). 0 when there is none.
   * QEMU applies the threshold to claims as well as to notifications, and so do we; the spec
   * leaves claims unaffected by it, which no driver relies on (Linux and OpenSBI claim only
   * after a notification).
   */
  private best(ctx: number): number {
    let bestSrc = 0;
    let bestPrio = this.threshold[ctx] as number;
    for (let w = 0; w < WORDS; w++) {
      let bits = this.pendingWord(w) & (this.enable[ctx * WORDS + w] as number);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits); // lowest set bit first: ascending ids
        bits &= bits - 1;
        const src = w * 32 + b;
        const prio = this.priority[src] as number;
        if (prio > bestPrio) {
          bestPrio = prio;
          bestSrc = src;
        }
      }
    }
    return bestSrc;
  }

  private claim(ctx: number): number {
    const src = this.best(ctx);
    if (src !== 0) {
      const w = src >>> 5;
      const bit = 1 << (src & 31);
      this.pending[w] = (this.pending[w] as number) & ~bit;
      this.claimed[w] = (this.claimed[w] as number) | bit;
      this.update();
    }
    return src;
  }

  /** A completion for a source not enabled for this context is ignored (spec, "Interrupt Completion"). */
  private complete(ctx: number, src: number): void {
    if (src <= 0 || src >= PLIC_NUM_SOURCES) return;
    const w = src >>> 5;
    const bit = 1 << (src & 31);
    if (((this.enable[ctx * WORDS + w] as number) & bit) === 0) return;
    this.claimed[w] = (this.claimed[w] as number) & ~bit;
    if ((this.level[w] as number) & bit) this.pending[w] = (this.pending[w] as number) | bit;
  }

  /** Re-evaluate every context's notification and deliver changes to the harts. */
  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      const v = this.best(ctx) !== 0 ? 1 : 0;
      if (this.eip[ctx] === v) continue;
      this.eip[ctx] = v;
      const hart = this.harts[ctx >>> 1] as InterruptTarget;
      hart.setPending((ctx & 1) === 0 ? MIP_MEIP : MIP_SEIP, v === 1);
      if (v === 1) hart.wake();
    }
  }
}
