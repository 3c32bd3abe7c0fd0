/**
 * The guest's notion of time: mtime (RISC-V privileged spec 3.2.1), ticking at `hz`, derived from
 * the host's monotonic clock, as QEMU does. A paused machine may `freeze` the clock so that time
 * spent stopped is not seen by the guest.
 */
export const TIMEBASE_HZ = 10_000_000;

export class Clock {
  private originNs: bigint;
  private frozenAt: number | null = null;
  constructor(readonly hz: number = TIMEBASE_HZ) {
    this.originNs = process.hrtime.bigint();
  }
  /** Current mtime in ticks (a safe integer for centuries at 10 MHz). */
  ticks(): number {
    if (this.frozenAt !== null) return this.frozenAt;
    return Math.floor(Number(process.hrtime.bigint() - this.originNs) / (1e9 / this.hz));
  }
  /** Host milliseconds until mtime reaches `deadline` (0 if already there). */
  msUntil(deadline: number): number {
    const d = deadline - this.ticks();
    return d <= 0 ? 0 : (d * 1000) / this.hz;
  }
  /**
   * Continue from `t` ticks (a restored snapshot's mtime): the guest sees time go on from where
   * it was saved, never backwards, whatever this host's monotonic clock reads.
   */
  continueFrom(t: number): void {
    this.frozenAt = null;
    this.originNs = process.hrtime.bigint() - BigInt(Math.round((t * 1e9) / this.hz));
  }
  /**
   * Where mtime 0 lies on the host's monotonic clock (hrtime, one clock for every thread of the
   * process): a hart's thread adopts its machine's, so all harts read the same mtime.
   */
  get origin(): bigint {
    return this.originNs;
  }
  adopt(origin: bigint): void {
    this.originNs = origin;
    this.frozenAt = null;
  }
  freeze(): void {
    if (this.frozenAt === null) this.frozenAt = this.ticks();
  }
  thaw(): void {
    if (this.frozenAt === null) return;
    const t = this.frozenAt;
    this.frozenAt = null;
    this.originNs = process.hrtime.bigint() - BigInt(Math.round((t * 1e9) / this.hz));
  }
}
