/**
 * Software TLB: direct-mapped, one set of arrays per access type (read, write, execute) and per
 * translation context. A context is everything besides the address that decides a translation's
 * outcome on the fast path: the effective privilege and mstatus.SUM (RISC-V privileged spec
 * 4.3.1, 4.3.2). Keeping one TLB per context means a trap from U to S, or a SUM toggle in the
 * kernel's uaccess helpers, switches arrays instead of flushing them. mstatus.MXR is not part of
 * a context: changing it flushes everything (csr.ts), as it is rare.
 *
 * An entry maps a virtual page base (a canonical virtual address as a JS number, exact below 2^53)
 * to the byte offset of the physical page inside guest RAM. Only RAM pages are entered: MMIO always
 * takes the slow path. Write entries are made only once the PTE's D bit is set, so a store that hits
 * never needs a page walk; pages holding decoded code are never entered for write, so that every
 * store to code goes through the slow path and invalidates the cached blocks.
 *
 * Address spaces (satp.ASID, 4.1.11): the translated contexts (U, S, S with SUM) live in banks,
 * one per recently used ASID (TLB_BANKS, least recently used replaced). A satp write that keeps
 * MODE re-points the fast path at its ASID's bank instead of flushing, so an address-space switch
 * keeps both sides' translations, each valid for its own ASID only: the fast paths (Hart.lw,
 * the wasm tier's probe) are unchanged, they read whichever tag arrays the hart's slots name.
 * Global mappings (PTE.G, 4.3.1: in every address space) are also kept in a shadow set of their
 * own, and a bank given to a new ASID starts as a copy of it, so the kernel's pages are not walked
 * again for every new process. The M context (no translation) is outside the banks.
 */
import { TLB_ADD, TLB_SET } from "../wasm/layout.js";

export const TLB_BITS = 11;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
/** A tag no page base can equal (page bases are multiples of 4096). */
export const TLB_EMPTY = 1;
/**
 * ASIDs whose translations are kept at once. Linux gives every mm an ASID of its own: the exec
 * path switches between the agent, the new program and the kernel's lazy mm, a shell pipeline
 * between a few more (docs/benchmarks.md "ASID-tagged TLB").
 */
export const TLB_BANKS = 4;
/** Context indices: U, S without SUM, S with SUM, M (bare, or M with MPRV handled as its target). */
export const CTX_U = 0;
export const CTX_S = 1;
export const CTX_S_SUM = 2;
export const CTX_M = 3;
export const CTX_COUNT = 4;
/** The contexts that translate (and so live in banks): U, S, S with SUM. */
const CTX_TRANSLATED = 3;
/**
 * TLB sets a hart uses (wasm/layout.ts TLB_SETS, HartArea.tlb), each TLB_SET bytes, three per
 * context (read, write, execute): the M context's, the global shadow's, then each bank's.
 */
export const TLB_SETS_USED = 3 + 3 * CTX_TRANSLATED * (1 + TLB_BANKS);
/** satp.ASID's width (4.1.11: up to 16 for Sv39 and Sv48); QEMU implements all 16 bits too. */
export const ASID_BITS = 16;
export const ASID_MASK = (1 << ASID_BITS) - 1;

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
   * of the sets of a bank most are empty (a process's U context has no S entries), and filling
   * a tag array costs about a microsecond.
   */
  used = false;
  /** `lazy`: the arrays are left as they are (zeros) until the first flush or copy. */
  constructor(buffer?: ArrayBuffer, at = 0, lazy = false) {
    this.at = at;
    this.tag = buffer ? new Float64Array(buffer, at, TLB_SIZE) : new Float64Array(TLB_SIZE);
    this.add = buffer ? new Float64Array(buffer, at + TLB_ADD, TLB_SIZE) : new Float64Array(TLB_SIZE);
    if (lazy) this.used = true;
    else this.tag.fill(TLB_EMPTY);
  }
  flush(): void {
    if (!this.used) return;
    this.tag.fill(TLB_EMPTY);
    this.used = false;
  }
  flushPage(pageBase: number): void {
    if (!this.used) return;
    const i = (pageBase >>> 12) & TLB_MASK;
    if (this.tag[i] === pageBase) this.tag[i] = TLB_EMPTY;
  }
  /** Drop every entry that maps to RAM page offset `ramPage` (used when a page becomes code). */
  flushRamPage(ramOff: number): void {
    if (!this.used) return;
    const add = this.add;
    const tag = this.tag;
    for (let i = 0; i < TLB_SIZE; i++) if (add[i] === ramOff) tag[i] = TLB_EMPTY;
  }
  fill(pageBase: number, ramOff: number): void {
    this.used = true;
    const i = (pageBase >>> 12) & TLB_MASK;
    this.tag[i] = pageBase;
    this.add[i] = ramOff;
  }
  /** Become a copy of `from` (a bank set taking the global shadow's entries). */
  copy(from: TlbSet): void {
    if (!from.used) return this.flush();
    this.tag.set(from.tag);
    this.add.set(from.add);
    this.used = true;
  }
}

/** The three TLBs of one translation context. */
export class TlbContext {
  readonly r: TlbSet;
  readonly w: TlbSet;
  readonly x: TlbSet;
  /** `at`: where its three sets start in `buffer` (read, write, execute; TLB_SET bytes each). */
  constructor(buffer?: ArrayBuffer, at = 0, lazy = false) {
    this.r = new TlbSet(buffer, at, lazy);
    this.w = new TlbSet(buffer, at + TLB_SET, lazy);
    this.x = new TlbSet(buffer, at + 2 * TLB_SET, lazy);
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
  copy(from: TlbContext): void {
    this.r.copy(from.r);
    this.w.copy(from.w);
    this.x.copy(from.x);
  }
}

/** The translated contexts of one address space (an ASID and the root it was last used with). */
class TlbBank {
  asid = -1;
  root = -1;
  /** When it was last selected (for replacement). */
  stamp = 0;
  constructor(readonly ctx: readonly TlbContext[]) {}
}

/** A hart's TLB: the M context, the global shadow and the banks (see the top of this file). */
export class Tlb {
  /**
   * The four contexts in force, by context index: the current bank's three, then M. Hart keeps
   * the fast-path arrays of the current data and fetch contexts (Hart.updateContexts).
   */
  readonly ctx: TlbContext[];
  /** Global mappings, by translated context: the entries every bank starts with. */
  readonly global: readonly TlbContext[];
  private readonly m: TlbContext;
  private readonly banks: TlbBank[];
  private current: TlbBank;
  private clock = 0;
  /** Banks set up for a new address space (counted for docs/benchmarks.md). */
  newBanks = 0;

  /**
   * `codePages`: with RAM shared between threads, the RAM pages holding code (memory.ts): a bank
   * copied from the global shadow drops the write entries of pages another hart made code while
   * the copy ran (the shadow's own were dropped by HartSlots.protectCodePage).
   */
  constructor(
    buffer?: ArrayBuffer,
    at = 0,
    private readonly codePages: Uint8Array | null = null,
  ) {
    const set = (s: number): number => at + s * TLB_SET;
    this.m = new TlbContext(buffer, set(0));
    this.global = Array.from({ length: CTX_TRANSLATED }, (_, c) => new TlbContext(buffer, set(3 + 3 * c)));
    this.banks = Array.from(
      { length: TLB_BANKS },
      (_, b) =>
        new TlbBank(
          Array.from(
            { length: CTX_TRANSLATED },
            (_, c) => new TlbContext(buffer, set(3 + 3 * CTX_TRANSLATED * (1 + b) + 3 * c), true),
          ),
        ),
    );
    const first = this.banks[0]!;
    for (const c of first.ctx) c.flush();
    first.asid = 0;
    first.root = 0;
    this.current = first;
    this.ctx = [...first.ctx, this.m];
  }

  /** Every bank that holds translations, then the global shadow and M. */
  private *contexts(): Generator<TlbContext> {
    for (const b of this.banks) if (b.asid >= 0) yield* b.ctx;
    yield* this.global;
    yield this.m;
  }

  /**
   * Make address space (`asid`, `root`) current; true when the contexts changed. The bank of an
   * ASID last used with another root starts again from the global shadow: satp names a new
   * address space under that ASID (Linux reuses an ASID only after flushing, so this costs it
   * nothing; a guest that switches roots under one ASID without SFENCE.VMA still sees its tables).
   */
  select(asid: number, root: number): boolean {
    let b = this.current;
    if (b.asid !== asid) {
      b = this.banks.find((k) => k.asid === asid) ?? this.oldest();
      if (b.asid !== asid) {
        b.asid = asid;
        this.start(b);
      }
    }
    if (b.root !== root) {
      if (b.root >= 0) this.start(b);
      b.root = root;
    }
    b.stamp = ++this.clock;
    if (b === this.current) return false;
    this.current = b;
    for (let c = 0; c < CTX_TRANSLATED; c++) this.ctx[c] = b.ctx[c]!;
    return true;
  }

  private oldest(): TlbBank {
    let o = this.banks[0]!;
    for (const b of this.banks) if (b.stamp < o.stamp) o = b;
    return o;
  }

  /** A bank for a new address space: the global entries only. */
  private start(b: TlbBank): void {
    this.newBanks++;
    b.root = -1;
    for (let c = 0; c < CTX_TRANSLATED; c++) b.ctx[c]!.copy(this.global[c]!);
    const code = this.codePages;
    if (code === null) return;
    for (const { w } of b.ctx) {
      if (!w.used) continue;
      for (let i = 0; i < TLB_SIZE; i++)
        if (w.tag[i] !== TLB_EMPTY && Atomics.load(code, w.add[i]! >>> 12) !== 0) w.tag[i] = TLB_EMPTY;
    }
  }

  /** SFENCE.VMA x0, x0 (4.2.1), and any change that invalidates every translation. */
  flush(): void {
    for (const c of this.contexts()) c.flush();
  }
  /** SFENCE.VMA rs1, x0: the page at `pageBase` in every address space, global or not. */
  flushPage(pageBase: number): void {
    for (const b of this.banks) if (b.asid >= 0) for (const c of b.ctx) c.flushPage(pageBase);
    for (const c of this.global) c.flushPage(pageBase);
  }
  /**
   * SFENCE.VMA x0, rs2: the non-global translations of `asid`. Its bank starts again from the
   * global shadow, which keeps the global ones (dropping those too would be allowed: fewer
   * entries are always correct).
   */
  flushAsid(asid: number): void {
    const b = this.banks.find((k) => k.asid === asid);
    if (b === undefined) return;
    const root = b.root;
    this.start(b);
    b.root = root;
  }
  /** SFENCE.VMA rs1, rs2: the page at `pageBase` in `asid` (its global entry, if any, goes too). */
  flushPageAsid(pageBase: number, asid: number): void {
    const b = this.banks.find((k) => k.asid === asid);
    if (b !== undefined) for (const c of b.ctx) c.flushPage(pageBase);
  }
  /** Drop every write entry for the RAM page at offset `ramOff` (it now holds code). */
  protectRamPage(ramOff: number): void {
    for (const c of this.contexts()) c.w.flushRamPage(ramOff);
  }
}
