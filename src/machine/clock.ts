/**
 * The guest's notion of time: mtime (RISC-V privileged spec 3.2.1), ticking at `hz`, derived from
 * the host's monotonic clock, as QEMU does. A paused machine may `freeze` the clock so that time
 * spent stopped is not seen by the guest.
 */
export const TIMEBASE_HZ = 10_000_000;

export class Clock {
  private originNs: bigint;
  private frozenAt: number | null = null;
  /** The latest mtime read: after `skip`, mtime holds there until the host's clock catches up. */
  private last = 0;
  constructor(readonly hz: number = TIMEBASE_HZ) {
    this.originNs = process.hrtime.bigint();
  }
  /** Current mtime in ticks (a safe integer for centuries at 10 MHz). */
  ticks(): number {
    if (this.frozenAt !== null) return this.frozenAt;
    const t = Math.floor(Number(process.hrtime.bigint() - this.originNs) / (1e9 / this.hz));
    if (t < this.last) return this.last;
    this.last = t;
    return t;
  }
  /**
   * Let the guest not see `ms` host milliseconds that have passed (Machine.run: the time one
   * thread spent running other harts). mtime never goes backwards (privileged spec 3.2.1: it
   * increments at a constant rate; every hart reads one mtime): it stands still until the host's
   * clock has run the skipped time.
   */
  skip(ms: number): void {
    if (this.frozenAt === null && ms > 0) this.originNs += BigInt(Math.round(ms * 1e6));
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
    this.last = t;
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
    this.last = 0;
  }
  freeze(): void {
    if (this.frozenAt === null) this.frozenAt = this.ticks();
  }
  thaw(): void {
    if (this.frozenAt === null) return;
    const t = this.frozenAt;
    this.frozenAt = null;
    this.last = t;
    this.originNs = process.hrtime.bigint() - BigInt(Math.round((t * 1e9) / this.hz));
  }
}
