/**
 * Test support, not shipped behaviour: an interrupt target that keeps the mip bits an interrupt
 * controller drives (privileged spec 3.1.9) and counts wake() calls, for the CLINT and PLIC
 * tests. (Not named *.test.ts: node --test must not run it by itself.)
 */
import type { InterruptTarget } from "./device.js";

export class RecordingHart implements InterruptTarget {
  mip = 0;
  wakes = 0;
  constructor(readonly hartId = 0) {}
  setPending(mask: number, level: boolean): void {
    this.mip = level ? this.mip | mask : this.mip & ~mask;
  }
  wake(): void {
    this.wakes++;
  }
}
