/**
 * The ring shared by write-behind's device side and its worker (write-behind.ts,
 * writer.ts), declared once: a control block of int32 counters, then SLOTS slots of a write's
 * position and length, then SLOTS data areas of SLOT_BYTES. `head` counts writes queued, `tail`
 * writes stored; both wrap as int32s.
 */
export const SLOTS = 4;
/** The largest write taken: Linux's default max_sectors_kb for virtio-blk (1280 KiB). */
export const SLOT_BYTES = 1280 * 1024;

const STOP_POLL_MS = 100;

const enum C {
  HEAD,
  TAIL,
  STOP,
  /** The first failed write's errno (negative), or 0. */
  ERRNO,
  /** Milliseconds the worker waits before each write: tests make it slow on purpose. */
  DELAY,
  /** A word nothing changes, to sleep on. */
  IDLE,
  WORDS,
}
const META_AT = C.WORDS * 4;
const DATA_AT = META_AT + SLOTS * 16;
const BYTES = DATA_AT + SLOTS * SLOT_BYTES;

export class Ring {
  private readonly ctl: Int32Array;
  private readonly meta: Float64Array;
  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.ctl = new Int32Array(sab, 0, C.WORDS);
    this.meta = new Float64Array(sab, META_AT, SLOTS * 2);
  }
  get head(): number {
    return Atomics.load(this.ctl, C.HEAD);
  }
  get tail(): number {
    return Atomics.load(this.ctl, C.TAIL);
  }
  get stopping(): boolean {
    return Atomics.load(this.ctl, C.STOP) !== 0;
  }
  /** Slot `n`'s write: its file position and its bytes (the first `length` of the data area). */
  slot(n: number): { position: number; data: Uint8Array } {
    const i = n & (SLOTS - 1);
    const length = this.meta[2 * i + 1]!;
    return { position: this.meta[2 * i]!, data: new Uint8Array(this.sab, DATA_AT + i * SLOT_BYTES, length) };
  }
  /** The data area of the slot `head` names, to fill before `publish`. */
  area(): Uint8Array {
    return new Uint8Array(this.sab, DATA_AT + (this.head & (SLOTS - 1)) * SLOT_BYTES, SLOT_BYTES);
  }
  /** Queue the filled slot: `length` bytes for file position `position`. */
  publish(position: number, length: number): void {
    const head = this.head;
    const i = head & (SLOTS - 1);
    this.meta[2 * i] = position;
    this.meta[2 * i + 1] = length;
    Atomics.store(this.ctl, C.HEAD, (head + 1) | 0);
    Atomics.notify(this.ctl, C.HEAD);
  }
  /** Block until `tail` moves from `seen` (the worker stored a write) or `ms` pass; whether it moved. */
  waitTail(seen: number, ms: number): boolean {
    return Atomics.wait(this.ctl, C.TAIL, seen, ms) !== "timed-out";
  }
  /**
   * The worker's side: block until a write is queued after `seen`, or a stop. A stop changes no
   * counter, so the wait is bounded: a stop that came between the check and the wait is seen
   * within STOP_POLL_MS.
   */
  waitHead(seen: number): void {
    Atomics.wait(this.ctl, C.HEAD, seen, STOP_POLL_MS);
  }
  advanceTail(tail: number): void {
    Atomics.store(this.ctl, C.TAIL, tail);
    Atomics.notify(this.ctl, C.TAIL);
  }
  /** Record a failed write (the first one wins until `takeError`). */
  fail(errno: number): void {
    Atomics.compareExchange(this.ctl, C.ERRNO, 0, errno < 0 ? errno : -errno);
  }
  /** The recorded failure's errno (negative), cleared; 0 when none. */
  takeError(): number {
    return Atomics.exchange(this.ctl, C.ERRNO, 0);
  }
  get delayMs(): number {
    return Atomics.load(this.ctl, C.DELAY);
  }
  set delayMs(ms: number) {
    Atomics.store(this.ctl, C.DELAY, ms);
  }
  /** Sleep `ms` milliseconds (the worker's delay). */
  sleep(ms: number): void {
    Atomics.wait(this.ctl, C.IDLE, 0, ms);
  }
  stop(): void {
    Atomics.store(this.ctl, C.STOP, 1);
    Atomics.notify(this.ctl, C.HEAD);
  }
}
