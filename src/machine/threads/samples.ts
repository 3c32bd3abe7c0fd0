/**
 * `corral run --profile` for harts on threads of their own: the profiler (profile/guest.ts) runs
 * on the machine's thread, the harts elsewhere. After each slice a hart's thread records what the
 * profiler reads of the hart then (its pc, mode, tp, sscratch, satp) and how many instructions the
 * slice retired, and posts the records in batches; the machine's thread replays them into the
 * profiler through a stand-in hart whose memory is the shared RAM.
 */
import type { Hart } from "../../cpu/hart/hart.js";
import type { SampledHart } from "../../profile/guest.js";
import type { GuestRam } from "../memory.js";

/** One record: pc, priv, satp mode, satp root, x4 (low, high), sscratch (low, high), instructions. */
const Rec = { pc: 0, priv: 1, satpMode: 2, satpRoot: 3, tp: 4, sscratch: 6, n: 8 } as const;
const REC = 9;
/** Records per batch, and the longest a record waits to be posted. */
const BATCH = 512;
const MAX_AGE_MS = 100;

/** A hart thread's end: collects records, hands full (or old) batches to `post`. */
export class SampleBatcher {
  private buf = new Float64Array(BATCH * REC);
  private count = 0;
  private since = 0;
  constructor(private readonly post: (records: Float64Array) => void) {}

  /** Hart `h` has just run a slice that retired `n` instructions. */
  add(h: Hart, n: number): void {
    if (n <= 0) return;
    const r = this.buf;
    const at = this.count++ * REC;
    r[at + Rec.pc] = h.pc;
    r[at + Rec.priv] = h.priv;
    r[at + Rec.satpMode] = h.satpMode;
    r[at + Rec.satpRoot] = h.satpRoot;
    r[at + Rec.tp] = h.x[8]!;
    r[at + Rec.tp + 1] = h.x[9]!;
    r[at + Rec.sscratch] = h.scratch[2]!;
    r[at + Rec.sscratch + 1] = h.scratch[3]!;
    r[at + Rec.n] = n;
    if (this.count === 1) this.since = performance.now();
    if (this.count === BATCH || performance.now() - this.since > MAX_AGE_MS) this.flush();
  }

  /** Post what is collected (also before the hart parks: its last records would wait otherwise). */
  flush(): void {
    if (this.count === 0) return;
    this.post(this.buf.slice(0, this.count * REC));
    this.count = 0;
  }
}

/** The machine's end: feeds a batch of records to `sample` (Machine.sampler). */
export function replaySamples(records: Float64Array, ram: GuestRam, sample: (h: SampledHart, n: number) => void): void {
  const x = new Int32Array(10);
  const scratch = new Int32Array(4);
  const h: { -readonly [K in keyof SampledHart]: SampledHart[K] } = {
    pc: 0,
    priv: 0,
    satpMode: 0,
    satpRoot: 0,
    x,
    scratch,
    ram,
  };
  for (let at = 0; at + REC <= records.length; at += REC) {
    h.pc = records[at + Rec.pc]!;
    h.priv = records[at + Rec.priv]!;
    h.satpMode = records[at + Rec.satpMode]!;
    h.satpRoot = records[at + Rec.satpRoot]!;
    x[8] = records[at + Rec.tp]!;
    x[9] = records[at + Rec.tp + 1]!;
    scratch[2] = records[at + Rec.sscratch]!;
    scratch[3] = records[at + Rec.sscratch + 1]!;
    sample(h, records[at + Rec.n]!);
  }
}
