/**
 * Software TLB: direct-mapped, one set of arrays per access type (read, write, execute) and per
 * translation context. A context is everything besides the address that decides a translation's
 * outcome on the fast path: the effective privilege and mstatus.SUM (RISC-V privileged spec
 * 4.3.1, 4.3.2). Keeping one TLB per context means a trap from U to S, or a SUM toggle in the
 * kernel's uaccess helpers, switches arrays instead of flushing them.
 *
 * An entry maps a virtual page base (a canonical virtual address as a JS number, exact below 2^53)
 * to the byte offset of the physical page inside guest RAM. Only RAM pages are entered: MMIO always
 * takes the slow path. Write entries are made only once the PTE's D bit is set, so a store that hits
 * never needs a page walk; pages holding decoded code are never entered for write, so that every
 * store to code goes through the slow path and invalidates the cached blocks.
 */
import { TLB_ADD, TLB_SET } from "../wasm/layout.js";

export const TLB_BITS = 11;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
/** A tag no page base can equal (page bases are multiples of 4096). */
const EMPTY = 1;

export class TlbSet {
  readonly tag: Float64Array;
  readonly add: Float64Array;
  /**
   * Where in `buffer` the set lives (the hart's area of the wasm memory, wasm/layout.ts: tags
   * then RAM offsets); by default it has arrays of its own. Kept as a field: it is read on every
   * privilege change, and TypedArray.byteOffset is a builtin call.
   */
  readonly at: number;
  /**
   * Whether an entry was filled since the last flush. A flush of a set nothing filled is skipped:
   * a kernel without ASIDs flushes on every address-space switch (satp write, SFENCE.VMA x0),
   * and of the twelve sets (four contexts, three access types) most are empty then; filling all
   * twelve tag arrays took about 13 µs a flush.
   */
  private used = false;
  constructor(buffer?: ArrayBuffer, at = 0) {
    this.at = at;
    this.tag = buffer ? new Float64Array(buffer, at, TLB_SIZE) : new Float64Array(TLB_SIZE);
    this.add = buffer ? new Float64Array(buffer, at + TLB_ADD, TLB_SIZE) : new Float64Array(TLB_SIZE);
    this.tag.fill(EMPTY);
  }
  flush(): void {
    if (!this.used) return;
    this.tag.fill(EMPTY);
    this.used = false;
  }
  flushPage(pageBase: number): void {
    if (!this.used) return;
    const i = (pageBase >>> 12) & TLB_MASK;
    if (this.tag[i] === pageBase) this.tag[i] = EMPTY;
  }
  /** Drop every entry that maps to RAM page offset `ramPage` (used when a page becomes code). */
  flushRamPage(ramOff: number): void {
    if (!this.used) return;
    const add = this.add;
    const tag = this.tag;
    for (let i = 0; i < TLB_SIZE; i++) if (add[i] === ramOff) tag[i] = EMPTY;
  }
  fill(pageBase: number, ramOff: number): void {
    this.used = true;
    const i = (pageBase >>> 12) & TLB_MASK;
    this.tag[i] = pageBase;
    this.add[i] = ramOff;
  }
}

/** The three TLBs of one translation context. */
export class TlbContext {
  readonly r: TlbSet;
  readonly w: TlbSet;
  readonly x: TlbSet;
  /** `at`: where its three sets start in `buffer` (read, write, execute; TLB_SET bytes each). */
  constructor(buffer?: ArrayBuffer, at = 0) {
    this.r = new TlbSet(buffer, at);
    this.w = new TlbSet(buffer, at + TLB_SET);
    this.x = new TlbSet(buffer, at + 2 * TLB_SET);
  }
  flush(): void {
    this.r.flush();
    this.w.flush();
    this.x.flush();
  }
  flushPage(pageBase: number): void {
    this.r.flushPage(pageBase);
    this.w.flushPage(pageBase);
    this.x.flushPage(pageBase);
  }
}

/** Context indices: U, S without SUM, S with SUM, M (bare, or M with MPRV handled as its target). */
export const CTX_U = 0;
export const CTX_S = 1;
export const CTX_S_SUM = 2;
export const CTX_M = 3;
export const CTX_COUNT = 4;
