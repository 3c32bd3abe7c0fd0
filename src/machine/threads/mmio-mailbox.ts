/**
 * MMIO from harts on threads of their own: devices stay on the VM process's main thread, single-
 * threaded as they were written. A hart's load or store outside RAM is posted to its mailbox (one
 * per hart in a SharedArrayBuffer), the main thread's doorbell rung, and the hart waits
 * (Atomics.wait) for the answer; the main thread serves mailboxes from its event loop
 * (Atomics.waitAsync), so devices see one access at a time, in the order they arrived.
 */
import type { PhysBus } from "../../cpu/hart/hart.js";

/** Atomics.waitAsync (ES2024; in Node since 16), which the project's TypeScript lib predates. */
interface AtomicsWaitAsync {
  waitAsync(
    a: Int32Array,
    i: number,
    v: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** Per mailbox: int32 state, size, kind, ok; float64 address and value (bytes 16 and 24). */
const BOX = 32;
const HEADER = 8;
const IDLE = 0;
const ASKED = 1;
const ANSWERED = 2;
const READ = 0;
const WRITE = 1;

export function mailboxBuffer(harts: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + BOX * harts);
}

/**
 * Every hart's thread calls this once it is set up, and returns when all have: no hart starts
 * another (SBI hart_start) while that one's thread is still building its view of the hart.
 */
export function allReady(buffer: SharedArrayBuffer, harts: number): void {
  const r = new Int32Array(buffer, 4, 1);
  Atomics.add(r, 0, 1);
  Atomics.notify(r, 0);
  for (let n = Atomics.load(r, 0); n < harts; n = Atomics.load(r, 0)) Atomics.wait(r, 0, n, 1000);
}

/** A hart's end: a PhysBus whose accesses the main thread performs. */
export class MailboxBus implements PhysBus {
  private readonly bell: Int32Array;
  private readonly i: Int32Array;
  private readonly f: Float64Array;
  constructor(buffer: SharedArrayBuffer, hart: number) {
    this.bell = new Int32Array(buffer, 0, 1);
    this.i = new Int32Array(buffer, HEADER + BOX * hart, 4);
    this.f = new Float64Array(buffer, HEADER + BOX * hart + 16, 2);
  }
  private ask(kind: number, pa: number, size: number, value: number): void {
    const i = this.i;
    this.f[0] = pa;
    this.f[1] = value;
    i[1] = size;
    i[2] = kind;
    Atomics.store(i, 0, ASKED);
    Atomics.add(this.bell, 0, 1);
    Atomics.notify(this.bell, 0);
    while (Atomics.load(i, 0) === ASKED) Atomics.wait(i, 0, ASKED, 1000);
    Atomics.store(i, 0, IDLE);
  }
  read(pa: number, size: 1 | 2 | 4): number | undefined {
    this.ask(READ, pa, size, 0);
    return this.i[3] !== 0 ? this.f[1] : undefined;
  }
  write(pa: number, size: 1 | 2 | 4, value: number): boolean {
    this.ask(WRITE, pa, size, value);
    return this.i[3] !== 0;
  }
}

/** The main thread's end: serves every hart's mailbox on `bus` until stop(). */
export class MailboxServer {
  private readonly bell: Int32Array;
  private readonly boxes: { i: Int32Array; f: Float64Array }[] = [];
  private stopped = false;
  constructor(
    buffer: SharedArrayBuffer,
    harts: number,
    private readonly bus: PhysBus,
    /** After each round of accesses (a device may have changed its timers' deadlines). */
    private readonly after: () => void,
  ) {
    this.bell = new Int32Array(buffer, 0, 1);
    for (let h = 0; h < harts; h++)
      this.boxes.push({
        i: new Int32Array(buffer, HEADER + BOX * h, 4),
        f: new Float64Array(buffer, HEADER + BOX * h + 16, 2),
      });
  }

  async serve(): Promise<void> {
    while (!this.stopped) {
      const seen = Atomics.load(this.bell, 0);
      let any = false;
      for (const { i, f } of this.boxes) {
        if (Atomics.load(i, 0) !== ASKED) continue;
        any = true;
        const size = i[1] as 1 | 2 | 4;
        if (i[2] === WRITE) i[3] = this.bus.write(f[0]!, size, f[1]!) ? 1 : 0;
        else {
          const v = this.bus.read(f[0]!, size);
          i[3] = v === undefined ? 0 : 1;
          f[1] = v ?? 0;
        }
        Atomics.store(i, 0, ANSWERED);
        Atomics.notify(i, 0);
      }
      if (any) this.after();
      const w = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.bell, 0, seen);
      if (w.async) await w.value;
    }
  }

  stop(): void {
    this.stopped = true;
    Atomics.add(this.bell, 0, 1);
    Atomics.notify(this.bell, 0);
  }
}
