/**
 * Phase timings of a restore (issue 16 item 6: restore to first exec in milliseconds), so every
 * figure of docs/benchmarks.md is explained: the caller stamps the restore call, the VM process
 * marks each phase after it (taken by a pool process or started, machine built, state back,
 * serving, clock set, first exec sent to the agent and answered), all as milliseconds since that
 * call, on one clock (the epoch in ms, with fractions: both processes share the host's clock).
 * The VM process writes the line to its console log once the first exec was answered (`corral:
 * restore timings (ms from the restore call): checked 3.8, taken 8.3, ...`), then the process's
 * own CPU and host page faults at each of its marks (usageLines); `npm run bench -- snapshot`
 * reads them from there.
 */

/** Milliseconds since the epoch with fractions (performance.now is per process). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** What a later fork's clone logs after its restore line (daemon.ts; src/snapshot/write.ts links its RAM). */
export const LATER_FORK_NOTE = "RAM: the first fork's frozen file, the pages written since laid over it";

/** The prefix of the timings line in a VM's console log. */
export const TIMINGS_PREFIX = "corral: restore timings (ms from the restore call):";

/**
 * The prefix of the line of this process's own CPU at each phase's end: ms of CPU (all its threads,
 * process.cpuUsage) since the Phases were made, as the VM process began (a pool process: once
 * taken). A wall time on a loaded host says little; the CPU at each mark says which phase works.
 */
export const CPU_PREFIX = "corral: restore CPU (ms of the VM process's CPU since it began the restore):";

/** The prefix of the line of host page faults (minor and major) this process took since it began the restore, at each phase's end. */
export const FAULTS_PREFIX = "corral: restore host page faults (since the VM process began the restore):";

export class Phases {
  private readonly marks: [string, number][] = [];
  /** CPU ms and host page faults at each mark made now (not a mark stamped by the caller, `at`). */
  private readonly used: [string, number, number][] = [];
  private readonly cpu0 = process.cpuUsage();
  private readonly faults0 = faults();
  constructor(readonly origin: number) {}

  /** Mark the end of phase `name` (no commas: they separate phases) now or `at` (epoch ms); the first mark of a name counts. */
  mark(name: string, at?: number): void {
    if (this.marks.some(([n]) => n === name)) return;
    this.marks.push([name, (at ?? epochMs()) - this.origin]);
    if (at !== undefined) return;
    const c = process.cpuUsage(this.cpu0);
    // Its name without a note in brackets (the swap's figures, already on the timings line).
    this.used.push([name.replace(/ \(.*\)$/, ""), (c.user + c.system) / 1000, faults() - this.faults0]);
  }

  /** `name +ms` pairs in the order marked. */
  line(): string {
    return `${TIMINGS_PREFIX} ${this.marks.map(([n, t]) => `${n} ${t.toFixed(1)}`).join(", ")}`;
  }

  /** The CPU line (CPU_PREFIX), then the page faults line (FAULTS_PREFIX), in parseTimings' form. */
  usageLines(): [string, string] {
    return [
      `${CPU_PREFIX} ${this.used.map(([n, c]) => `${n} ${c.toFixed(1)}`).join(", ")}`,
      `${FAULTS_PREFIX} ${this.used.map(([n, , f]) => `${n} ${f}`).join(", ")}`,
    ];
  }
}

/** Host page faults this process took so far (getrusage: minor and major). */
function faults(): number {
  const r = process.resourceUsage();
  return r.minorPageFault + r.majorPageFault;
}

/** The phases of a timings line (parseTimings(Phases.line()) gives the marks back), or of a usage line with its prefix. */
export function parseTimings(line: string, prefix = TIMINGS_PREFIX): Record<string, number> | undefined {
  const at = line.indexOf(prefix);
  if (at < 0) return undefined;
  const out: Record<string, number> = {};
  for (const part of line.slice(at + prefix.length).split(",")) {
    const m = /^\s*(.+?) (-?\d+(?:\.\d+)?)\s*$/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
