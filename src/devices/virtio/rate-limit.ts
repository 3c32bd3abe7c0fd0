/**
 * I/O rate limits for a device's queues (issue 18 item 5), token buckets as Firecracker's rate
 * limiter has them: one bucket of bytes and one of operations (requests, frames), each refilled at
 * its rate and holding at most its burst.
 *
 * The bytes bucket may go into debt: a request is served whole once the bucket is not in debt, and
 * its size is taken afterwards. The device therefore never has to know a request's size before
 * taking it off the ring (and never holds a request back: what it has not popped stays in the
 * ring, so the virtqueue state is all the device has), and a request larger than the burst still
 * goes through. An operation costs one token, known in advance: the ops bucket never goes into
 * debt, and its burst is exactly that many operations. Over any stretch of time the rates hold to
 * within one request and one burst.
 */

/** A device's limits. Absent fields are unlimited. */
export interface RateLimit {
  /** Bytes per second. */
  bandwidth?: number | undefined;
  /** Operations (disk requests, network frames) per second. */
  ops?: number | undefined;
  /** Bytes the bandwidth bucket holds when full (default: a tenth of a second at the rate). */
  burst?: number | undefined;
  /** Operations the ops bucket holds when full (default: a tenth of a second at the rate, at least 1). */
  opsBurst?: number | undefined;
}

/** What a limiter has let through and held back, for `corral vm limit` and the bench. */
export interface RateLimitStats {
  bytes: number;
  ops: number;
  /** Times a queue was stopped for lack of tokens. */
  throttled: number;
}

/** Milliseconds, monotonic. */
export type Clock = () => number;

/** Default burst: what the rate gives in this many seconds. */
const DEFAULT_BURST_SECONDS = 0.1;

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly size: number,
    now: number,
  ) {
    this.tokens = size;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) this.tokens = Math.min(this.size, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  /** Milliseconds until the bucket holds `need` tokens (0: it does). */
  wait(now: number, need: number): number {
    this.refill(now);
    if (this.tokens >= need) return 0;
    // Less a hair, so that float error never adds a whole millisecond to an exact wait.
    return Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.rate - 1e-6));
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }
}

/** Both buckets of a device queue (or of one direction of a NIC). */
export class RateLimiter {
  readonly stats: RateLimitStats = { bytes: 0, ops: 0, throttled: 0 };
  private bytes: TokenBucket | undefined;
  private opsBucket: TokenBucket | undefined;
  private current: RateLimit = {};

  private timer: NodeJS.Timeout | undefined;

  /**
   * `resume` is called when a queue that `allows` stopped may go on; one timer at a time, so a
   * guest that keeps notifying a stopped queue costs nothing.
   */
  constructor(
    limit: RateLimit | undefined,
    private readonly clock: Clock = () => performance.now(),
    private readonly resume: () => void = () => {},
  ) {
    this.set(limit);
  }

  /** A queue stopped by `allows` waits for its timer. */
  get waiting(): boolean {
    return this.timer !== undefined;
  }

  /** Whether the next request may go now; if not, `resume` is called when it may. */
  allows(): boolean {
    const ms = this.wait();
    if (ms > 0 && !this.timer)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.resume();
      }, ms);
    return ms === 0;
  }

  /** Forget a pending resume (device reset, close, new limits). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The limits in force. */
  get limit(): RateLimit {
    return { ...this.current };
  }

  /** Whether anything is limited. */
  get active(): boolean {
    return this.bytes !== undefined || this.opsBucket !== undefined;
  }

  /** New limits, at once and with full buckets (as a running VM's `corral vm limit` sets them). */
  set(limit: RateLimit | undefined): void {
    this.cancel();
    const now = this.clock();
    const l = limit ?? {};
    this.current = Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined));
    this.bytes = l.bandwidth
      ? new TokenBucket(l.bandwidth, l.burst ?? l.bandwidth * DEFAULT_BURST_SECONDS, now)
      : undefined;
    this.opsBucket = l.ops
      ? new TokenBucket(l.ops, l.opsBurst ?? Math.max(1, l.ops * DEFAULT_BURST_SECONDS), now)
      : undefined;
  }

  /** Milliseconds before the next request may go (0: now). Counts a stop when it says wait. */
  wait(): number {
    if (!this.active) return 0;
    const now = this.clock();
    const ms = Math.max(this.bytes?.wait(now, 0) ?? 0, this.opsBucket?.wait(now, 1) ?? 0);
    if (ms > 0) this.stats.throttled++;
    return ms;
  }

  /** A request of `bytes` bytes went through. */
  charge(bytes: number): void {
    this.stats.bytes += bytes;
    this.stats.ops++;
    if (!this.active) return;
    const now = this.clock();
    this.bytes?.take(bytes, now);
    this.opsBucket?.take(1, now);
  }
}
