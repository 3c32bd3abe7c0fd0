/**
 * Where the state that compiled WebAssembly code touches lives in the machine's linear memory.
 *
 * Guest RAM, each hart's integer registers and its TLB arrays are views of one
 * `WebAssembly.Memory`, so code compiled by the wasm tier (emit.ts, tier.ts) reads and writes them with
 * plain loads and stores while the interpreter, the closures and the devices keep using typed
 * arrays over the same bytes. The registers are already little-endian (low, high) int32 pairs,
 * which is exactly an i64 in linear memory; the TLB arrays are Float64Arrays, f64 in linear memory.
 *
 * Memory map: HART_SLOTS areas of HART_AREA bytes, the jump cache, then guest RAM (RAM offset 0
 * is byte `RAM_OFFSET`). Inside a hart's area:
 */
export const HartArea = {
  /** Registers x0..x31 plus the scratch pair (hart.ts), 66 int32. */
  x: 0,
  /** The pc at which compiled code left off, as an i64. */
  pc: 512,
  /** High word of the last slow-path load (Hart.hiOut for the wasm tier), an i32. */
  hiOut: 520,
  /**
   * Non-zero when compiled code must return to the run loop at the next block boundary; bit 1
   * (STOP_IRQ) set by compiled code that enabled interrupts: the run loop must look for one.
   */
  stop: 524,
  /**
   * Byte offsets (in the memory) of the current data contexts' read and write tag arrays, and of
   * the current fetch context's execute tag array.
   */
  rtag: 528,
  wtag: 532,
  xtag: 536,
  /** The LR reservation (Hart.reservation): a RAM offset, or -1. */
  reservation: 540,
  /** The RAM offset of the block compiled code left for, when it knows it statically, else -1. */
  next: 544,
  /** The privilege level (Hart.priv) and mstatus (Hart.mstatus, its low word: the rest is fixed). */
  priv: 548,
  mstatus: 552,
  /**
   * State other threads read and write when harts run on threads of their own
   * (machine/threads/): mip's device-driven and software-written bits (Hart.mipExt, Hart.mipSw),
   * the HSM state (Hart.state), a doorbell counter a parked hart waits on, the requests other
   * harts left for it (threads/requests.ts), the value LR loaded (SC compares against it), the
   * pc and opaque an SBI hart_start hands over, and instructions retired.
   */
  mipExt: 556,
  mipSw: 560,
  hsm: 564,
  doorbell: 568,
  requests: 572,
  resLo: 576,
  resHi: 580,
  parked: 584,
  startPc: 592,
  startArg: 600,
  retired: 608,
  /** Non-zero while the machine asks the hart to stay paused (snapshots; machine/threads/run.ts). */
  pause: 616,
  /** fcsr's fields (Hart.fflags, Hart.frm), i32 each: the wasm tier's inline FP ops (emit-fp.ts). */
  fflags: 624,
  frm: 628,
  /** Of `retired`, those retired in compiled wasm code (WasmTier.retired), a float64. */
  retiredCompiled: 632,
  /** The f registers (Hart.f), 32 little-endian (low, high) int32 pairs: an f64 or i64 each. */
  f: 1024,
  /**
   * The page caches every compiled function shares (emitter.ts cachedAccess, pageSlot),
   * PAGE_CACHES pairs of i64, one per base register and TLB: a page's virtual base and what turns
   * an address in it into its RAM offset. WasmTier empties them at each entry and service.
   */
  pages: 2048,
  /**
   * The TLB's TLB_SETS sets (tlb.ts Tlb), access s (read, write, execute) of each group of three
   * at tlb + (3g + s) * TLB_SET: group 0 the M context, 1-3 the global shadow's U, S, S+SUM, then
   * three per ASID bank. Compiled code never computes these: it reads the current arrays' offsets
   * from rtag, wtag and xtag.
   */
  tlb: 4096,
  /**
   * The hart's own jump cache (HART_JC_ENTRIES pairs, as at JC_OFFSET), after the TLB sets: a
   * hart on a thread of its own has a code cache and a function table of its own (tier.ts).
   */
  jc: 4096 + 48 * 2 * 2048 * 8,
} as const;

/** Page caches in a hart's area (HartArea.pages): one per base register (x1..x31) and TLB (read, write). */
export const PAGE_CACHES = 64;
/** The stop slot's bit for "interrupts were enabled, look for a pending one" (Hart.irqCheck). */
export const STOP_IRQ = 2;
/** The stop slot's bit another thread sets when it left this hart requests (machine/threads/). */
export const STOP_REMOTE = 4;

/** One TLB set: a Float64Array of tags followed by a Float64Array of RAM offsets (tlb.ts). */
export const TLB_SET = 2 * 2048 * 8;
/** Offset of a set's RAM offsets from its tags. */
export const TLB_ADD = 2048 * 8;
/** TLB sets in a hart's area: 3 (M) + 9 (global shadow) + 9 per ASID bank, 4 banks (tlb.ts TLB_SETS). */
export const TLB_SETS = 48;
/** Bytes per hart area: registers, slots, the TLB sets and the jump cache, rounded up to 64 KiB. */
export const HART_AREA = 1664 * 1024;
/** Hart areas in front of RAM: Corral's most CPUs per VM (builder.ts MAX_CPUS). */
export const HART_SLOTS = 8;
/**
 * The wasm tier's jump cache (tier.ts): JC_ENTRIES pairs of int32 (a block's RAM offset, its
 * index in the function table), direct-mapped by RAM offset, after the hart areas.
 */
export const JC_OFFSET = HART_AREA * HART_SLOTS;
export const JC_ENTRIES = 1 << 16;
export const JC_BYTES = JC_ENTRIES * 8;
/** Entries of a hart's own jump cache (HartArea.jc): the rest of its area. */
export const HART_JC_ENTRIES = 1 << 13;
/** Entries of the jump cache at byte `at` of the memory: the machine's one, or a hart's own. */
export function jumpCacheEntries(at: number): number {
  return at === JC_OFFSET ? JC_ENTRIES : HART_JC_ENTRIES;
}
/** RAM offset 0 in the memory. */
export const RAM_OFFSET = JC_OFFSET + JC_BYTES;
/** The largest WebAssembly.Memory (65536 pages of 64 KiB, memory32). */
export const MAX_LINEAR = 2 ** 32;
