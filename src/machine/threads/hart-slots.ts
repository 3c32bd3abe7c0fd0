/**
 * How harts on threads of their own reach each other: through each hart's area in the shared
 * wasm memory (cpu/wasm/layout.ts HartArea): its doorbell (a counter a parked hart waits on with
 * Atomics.wait), its requests (bits other harts set and it serves between slices, clearing each
 * once served) and its stop slot (STOP_REMOTE makes compiled code hand back at the next block).
 */
import { HartArea, HART_AREA, STOP_REMOTE, TLB_ADD, TLB_SET, TLB_SETS } from "../../cpu/wasm/layout.js";

/** Flush the whole TLB (SBI RFENCE remote_sfence_vma, privileged spec 4.2.1). */
export const REQ_TLB = 1;
/** Code this hart cached was overwritten: drop it (code-sync.ts). */
export const REQ_CODE = 2;
/** Serve everything pending, then acknowledge (SBI RFENCE remote_fence_i). */
export const REQ_SYNC = 4;
/** SBI HSM hart_start: the pc and opaque are in the start slots. */
export const REQ_START = 8;

const I = {
  doorbell: HartArea.doorbell >>> 2,
  requests: HartArea.requests >>> 2,
  stop: HartArea.stop >>> 2,
  parked: HartArea.parked >>> 2,
  hsm: HartArea.hsm >>> 2,
  mipSw: HartArea.mipSw >>> 2,
  startArgLo: HartArea.startArg >>> 2,
  startArgHi: (HartArea.startArg >>> 2) + 1,
  pause: HartArea.pause >>> 2,
} as const;

/** One hart's slots, seen from any thread. */
export class HartSlots {
  readonly s: Int32Array;
  private readonly f: Float64Array;
  constructor(
    buffer: ArrayBufferLike,
    readonly hartId: number,
  ) {
    this.s = new Int32Array(buffer, HART_AREA * hartId, HartArea.tlb >>> 2);
    this.f = new Float64Array(buffer, HART_AREA * hartId, HartArea.tlb >>> 3);
  }
  /** Wake the hart if it is parked (WFI, stopped, or waiting for its MMIO's answer does not count). */
  ring(): void {
    Atomics.add(this.s, I.doorbell, 1);
    Atomics.notify(this.s, I.doorbell);
  }
  /** Leave requests `bits`, make compiled code hand back, and wake the hart. */
  request(bits: number): void {
    Atomics.or(this.s, I.requests, bits);
    Atomics.or(this.s, I.stop, STOP_REMOTE);
    this.ring();
  }
  requests(): number {
    return Atomics.load(this.s, I.requests);
  }
  /** The requests `bits` are served. */
  served(bits: number): void {
    Atomics.and(this.s, I.requests, ~bits);
  }
  doorbell(): number {
    return Atomics.load(this.s, I.doorbell);
  }
  /** Sleep until the doorbell moves from `seen` or `ms` pass. */
  wait(seen: number, ms: number): void {
    Atomics.store(this.s, I.parked, 1);
    Atomics.wait(this.s, I.doorbell, seen, ms);
    Atomics.store(this.s, I.parked, 0);
  }
  parked(): boolean {
    return Atomics.load(this.s, I.parked) !== 0;
  }
  /** Ask the hart to stay paused at its next slice boundary (true), or to go on (false). */
  setPause(on: boolean): void {
    Atomics.store(this.s, I.pause, on ? 1 : 0);
    this.request(0);
  }
  pauseAsked(): boolean {
    return Atomics.load(this.s, I.pause) !== 0;
  }
  hsm(): number {
    return Atomics.load(this.s, I.hsm);
  }
  casHsm(from: number, to: number): boolean {
    return Atomics.compareExchange(this.s, I.hsm, from, to) === from;
  }
  setMipSw(bits: number): void {
    Atomics.or(this.s, I.mipSw, bits);
  }
  setStart(pc: number, lo: number, hi: number): void {
    this.f[HartArea.startPc >>> 3] = pc;
    this.s[I.startArgLo] = lo;
    this.s[I.startArgHi] = hi;
  }
  start(): { pc: number; lo: number; hi: number } {
    return { pc: this.f[HartArea.startPc >>> 3]!, lo: this.s[I.startArgLo]!, hi: this.s[I.startArgHi]! };
  }
  /** Instructions the hart retired (published by its thread between slices). */
  get retired(): number {
    return this.f[HartArea.retired >>> 3]!;
  }
  set retired(n: number) {
    this.f[HartArea.retired >>> 3] = n;
  }
  /** Of those, the instructions retired in compiled code (WasmTier.retired). */
  get retiredCompiled(): number {
    return this.f[HartArea.retiredCompiled >>> 3]!;
  }
  set retiredCompiled(n: number) {
    this.f[HartArea.retiredCompiled >>> 3] = n;
  }

  /**
   * Drop this hart's write-TLB entries that map RAM page `page` (it now holds another hart's code),
   * as Hart.protectCodePage does for a hart of the same thread. The entries are read and written
   * while the hart runs: a fill racing with this is caught by Hart.fillWrite's second look.
   */
  protectCodePage(page: number): void {
    const off = page * 4096;
    for (const { tag, add } of this.writeSets()) for (let i = 0; i < add.length; i++) if (add[i] === off) tag[i] = 1;
  }
  /**
   * The hart's write-TLB sets, the second of each group of three: every context of every ASID
   * bank and the global shadow (tags, then RAM offsets: tlb.ts). A bank not yet used holds zeros:
   * clearing its tags does no harm.
   */
  private writeSets(): { tag: Float64Array; add: Float64Array }[] {
    if (this.wsets === null) {
      const buffer = this.s.buffer;
      this.wsets = Array.from({ length: TLB_SETS / 3 }, (_, g) => {
        const at = HART_AREA * this.hartId + HartArea.tlb + (3 * g + 1) * TLB_SET;
        return {
          tag: new Float64Array(buffer, at, TLB_ADD / 8),
          add: new Float64Array(buffer, at + TLB_ADD, TLB_ADD / 8),
        };
      });
    }
    return this.wsets;
  }
  private wsets: { tag: Float64Array; add: Float64Array }[] | null = null;
}
