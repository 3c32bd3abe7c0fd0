/**
 * Code written by one hart (or a device's DMA) and cached by another (Zifencei; privileged spec
 * 3.7 on remote fences): each hart's code cache marks the RAM pages it holds blocks from with its
 * own bit in GuestRam.codePages (shared). A write to a marked page, seen by the writer's slow path
 * (marked pages are kept out of every hart's write TLB, hart-slots.ts protectCodePage), sets the
 * page in the dirty map of every other hart whose bit is set and leaves it REQ_CODE; that hart
 * drops those pages' blocks between slices, at its next FENCE.I at the latest (ops-sys.ts fenceI),
 * or before an SBI remote_fence_i returns to the caller (REQ_SYNC).
 */
import { type HartSlots, REQ_CODE } from "./hart-slots.js";

export class CodeSync {
  /** One byte per RAM page per hart: the page was written since the hart looked. */
  readonly dirty: Uint8Array;
  constructor(
    private readonly codePages: Uint8Array,
    private readonly harts: readonly HartSlots[],
    dirty?: Uint8Array,
  ) {
    this.dirty = dirty ?? new Uint8Array(new SharedArrayBuffer(codePages.length * harts.length));
  }

  /** RAM page `page` was written by hart `self` (-1: a device): tell every other hart holding code from it. */
  written(page: number, self: number): void {
    const bits = Atomics.load(this.codePages, page);
    if (bits === 0) return;
    const pages = this.codePages.length;
    for (const h of this.harts) {
      if (h.hartId === self || (bits & (1 << h.hartId)) === 0) continue;
      Atomics.store(this.dirty, h.hartId * pages + page, 1);
      h.request(REQ_CODE);
    }
  }

  /** The pages written since hart `hart` last looked, among those `holds` says it has code from. */
  take(hart: number, holds: (page: number) => boolean, drop: (page: number) => void): void {
    const pages = this.codePages.length;
    const base = hart * pages;
    const bit = 1 << hart;
    for (let p = 0; p < pages; p++) {
      if (this.dirty[base + p] === 0) continue;
      Atomics.store(this.dirty, base + p, 0);
      if (holds(p) && (Atomics.load(this.codePages, p) & bit) !== 0) drop(p);
    }
  }
}
