/**
 * Phase timings of a restore (issue 16 item 6: restore to first exec in milliseconds), so every
 * figure of docs/benchmarks.md is explained: the caller stamps the restore call, the VM process
 * marks each phase after it (taken by a pool process or started, machine built, state back,
 * serving, clock set, first exec sent to the agent and answered), all as milliseconds since that
 * call, on one clock (the epoch in ms, with fractions: both processes share the host's clock).
 * The VM process writes the line to its console log once the first exec was answered (`corral:
 * restore timings (ms from the restore call): checked 3.8, taken 8.3, ...`); `npm run bench --
 * snapshot` reads it from there.
 */

/** Milliseconds since the epoch with fractions (performance.now is per process). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** What a later fork's clone logs after its restore line (daemon.ts; src/snapshot/write.ts links its RAM). */
export const LATER_FORK_NOTE = "RAM: the first fork's frozen file, the pages written since laid over it";

/** The prefix of the timings line in a VM's console log. */
export const TIMINGS_PREFIX = "corral: restore timings (ms from the restore call):";

export class Phases {
  private readonly marks: [string, number][] = [];
  constructor(readonly origin: number) {}

  /** Mark the end of phase `name` (no commas: they separate phases) now or `at` (epoch ms); the first mark of a name counts. */
  mark(name: string, at = epochMs()): void {
    if (!this.marks.some(([n]) => n === name)) this.marks.push([name, at - this.origin]);
  }

  /** `name +ms` pairs in the order marked. */
  line(): string {
    return `${TIMINGS_PREFIX} ${this.marks.map(([n, t]) => `${n} ${t.toFixed(1)}`).join(", ")}`;
  }
}

/** The phases of a timings line (parseTimings(Phases.line()) gives the marks back). */
export function parseTimings(line: string): Record<string, number> | undefined {
  const at = line.indexOf(TIMINGS_PREFIX);
  if (at < 0) return undefined;
  const out: Record<string, number> = {};
  for (const part of line.slice(at + TIMINGS_PREFIX.length).split(",")) {
    const m = /^\s*(.+?) (-?\d+(?:\.\d+)?)\s*$/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
