/**
 * The host half of a profile: where this process's time goes, from V8's own sampling profiler
 * (the inspector's Profiler domain, the machinery of `node --cpu-prof`), which interrupts the
 * thread from a thread of its own every INTERVAL_US and costs the hot path nothing. Each sample's
 * time (the gap to the one before) goes to the phase of the innermost frame a rule below knows
 * (by its source file under src/: bin/corral.js runs tsc's files, not the bundle, for --profile):
 * compiling (the wasm tier, the JavaScript JIT), running the guest (compiled wasm or JavaScript
 * blocks, the interpreter, the hart's MMU, traps and CSRs, the run loop that finds and decodes
 * blocks), devices, and V8's own (idle: the event loop waiting, which is where a guest in WFI
 * sleeps; garbage collection). The profiler is stopped and started again now and then (FIRST_ROUND_MS), each
 * round folded into a few totals, so memory stays bounded however long the VM runs.
 */
import { Session } from "node:inspector";

/**
 * Every 4 ms: at 1 ms a boot took about 1.2x the CPU time of one without a profile (a stack walk
 * per sample, the signals, the bigger rounds); a 30-second boot still gets thousands of samples.
 */
const INTERVAL_US = 4000;
export const INTERVAL_MS = INTERVAL_US / 1000;
/**
 * Rounds: the first this long, each next one twice as long, up to MAX_ROUND_MS. Restarting costs:
 * Profiler.start enumerates every code object (each compiled wasm block), 0.5-1 s once a boot has
 * compiled its blocks, and the stop serializes the round. Doubling keeps that under 1 % of a long
 * run (and a boot pays none), while a round's samples (one every INTERVAL_US, some tens of bytes
 * each in V8) stay bounded: about 10 MB for the longest round.
 */
const FIRST_ROUND_MS = 120_000;
const MAX_ROUND_MS = 1_200_000;

/** The phases, in report order. */
export const PHASES = [
  "compiled code (wasm)",
  "compiled code (JavaScript JIT)",
  "interpreter",
  "hart: MMU, traps, CSRs, SBI",
  "run loop, block lookup and decode",
  "wasm compile",
  "JavaScript JIT compile",
  "devices and their backends",
  "idle (guest in WFI, waiting for I/O)",
  "garbage collection",
  "the profiler itself",
  "other host code",
] as const;
export type Phase = (typeof PHASES)[number];

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

/** WasmTier's functions that run the guest (its run and the services compiled code calls). */
const SERVICES = new Set(["run", "call", "load", "store"]);

/** The phase of one frame, or null to look at its caller. */
export function phaseOfFrame(f: CallFrame): Phase | null {
  const fn = f.functionName;
  if (fn === "(idle)") return "idle (guest in WFI, waiting for I/O)";
  if (fn === "(garbage collector)") return "garbage collection";
  if (fn === "(program)" || fn === "(root)") return "other host code";
  const url = f.url;
  if (url.startsWith("wasm://") || /^(js-to-wasm|wasm-to-js|\$?wasm-function)/.test(fn)) return "compiled code (wasm)";
  const src = /\/src\/(.+)\.[jt]s$/.exec(url)?.[1];
  if (url === "") {
    // Native frames: WebAssembly's constructors compile; the inspector's dispatch is this profiler.
    if (fn === "Module" || fn === "Instance") return "wasm compile";
    if (fn === "dispatch") return "the profiler itself";
    // The JavaScript JIT's blocks (new Function in jit.ts) have no script.
    if (fn === "anonymous") return "compiled code (JavaScript JIT)";
  }
  if (src === undefined) return null;
  if (src.startsWith("profile/")) return "the profiler itself";
  // The tier's run and its services (`call`, `load`, `store`: what compiled code calls out to)
  // run the guest; the rest of the file compiles. Counting the services as compiling once showed
  // a floating-point program, whose every FP op was a `call`, as 16 % "wasm compile".
  if (src === "cpu/wasm/tier") return SERVICES.has(fn) ? "compiled code (wasm)" : "wasm compile";
  if (src.startsWith("cpu/wasm/")) return "wasm compile";
  if (src === "cpu/engine/jit") return "JavaScript JIT compile";
  if (src === "cpu/engine/interp" || src.startsWith("cpu/isa/ops-") || src.startsWith("cpu/fpu/")) return "interpreter";
  if (src.startsWith("cpu/isa/") || src === "cpu/engine/exec" || src === "machine/machine")
    return "run loop, block lookup and decode";
  if (src.startsWith("cpu/hart/") || src === "machine/sbi") return "hart: MMU, traps, CSRs, SBI";
  if (/^(devices|net|disk)\//.test(src)) return "devices and their backends";
  return null;
}

export class HostPhases {
  /** Microseconds by phase. */
  readonly micros = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
  private readonly session = new Session();
  private timer: NodeJS.Timeout | null = null;
  private roundMs = FIRST_ROUND_MS;
  private started = 0;
  /** Wall time profiled, ms. */
  wallMs = 0;

  start(): void {
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.setSamplingInterval", { interval: INTERVAL_US });
    this.started = performance.now();
    this.post("Profiler.start");
    this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.round(true);
      this.roundMs = Math.min(2 * this.roundMs, MAX_ROUND_MS);
      this.arm();
    }, this.roundMs);
    this.timer.unref();
  }

  /** Fold the last round in and stop. */
  stop(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.round(false);
    this.wallMs = performance.now() - this.started;
    this.post("Profiler.disable");
    this.session.disconnect();
  }

  private round(again: boolean): void {
    const profile = this.post<{ profile: CpuProfile }>("Profiler.stop")?.profile;
    if (again) this.post("Profiler.start");
    if (profile) this.fold(profile);
  }

  private fold(p: CpuProfile): void {
    const parent = new Map<number, ProfileNode>();
    const byId = new Map<number, ProfileNode>();
    for (const n of p.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n);
    }
    const phaseOfNode = new Map<number, Phase>();
    const phaseOf = (id: number): Phase => {
      const known = phaseOfNode.get(id);
      if (known !== undefined) return known;
      let ph: Phase = "other host code";
      for (let n = byId.get(id); n !== undefined; n = parent.get(n.id)) {
        const f = phaseOfFrame(n.callFrame);
        if (f !== null) {
          ph = f;
          break;
        }
      }
      phaseOfNode.set(id, ph);
      return ph;
    };
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const ph = phaseOf(samples[i]!);
      this.micros.set(ph, this.micros.get(ph)! + Math.max(0, deltas[i] ?? 0));
    }
  }

  /** The inspector's in-thread session answers synchronously. */
  private post<T>(method: string, params?: object): T | undefined {
    let out: T | undefined;
    this.session.post(method, params ?? {}, (err, r) => {
      if (!err) out = r as T;
    });
    return out;
  }
}
