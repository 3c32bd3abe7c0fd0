/**
 * A running virtual machine: RAM, harts, the MMIO bus and its devices, and the scheduler that
 * runs the harts in turn on this thread. Built by builder.ts; torn down by close().
 *
 * Scheduling: each runnable hart runs a slice of instructions in turn (so SMP guests see real
 * concurrency at slice granularity); a hart that spins (PAUSE, Linux's cpu_relax) ends its slice
 * there, since what it waits for is another hart's doing and no other hart runs meanwhile
 * (ops-sys.ts pause); LR reservations are dropped whenever another hart may have
 * run, which makes a racing SC fail as the spec permits. Timers are polled between rounds. When
 * every hart waits in WFI the loop sleeps until the next timer deadline or until a device wakes a
 * hart: an idle guest costs no host CPU. The loop yields to Node's event loop every few
 * milliseconds so host I/O (terminal input, sockets) is served.
 */
import { constants } from "node:os";
import { TIMEBASE_HZ, Clock } from "./clock.js";
import type { GuestRam } from "./memory.js";
import { CodeCache, runHart } from "../cpu/engine/exec.js";
import { Hart, HartState, type HartHost } from "../cpu/hart/hart.js";
import { MmioBus } from "../devices/bus.js";
import type { Uart16550 } from "../devices/uart16550.js";
import type { SavedState } from "../snapshot/state.js";
import { HartThreads } from "./threads/run.js";
import type { SampledHart } from "../profile/guest.js";

/** Why a machine stopped. */
export type MachineExit =
  | { kind: "poweroff"; code: number }
  | { kind: "reset" }
  | { kind: "panic"; message: string }
  /** Stopped from the host: by a signal to this process, or by the user (Ctrl-A X, the API). */
  | { kind: "stopped"; signal?: StopSignal }
  | { kind: "fault"; message: string };

/** The signals that stop a machine (the run exits with 128 + the signal's number, as a shell reports it). */
export type StopSignal = "SIGINT" | "SIGTERM";

/** 128 + the signal's number: how a shell reports a process that signal ended (POSIX 2.8.2). */
export function signalStatus(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

/** Instructions a hart runs before the next one gets its turn. */
const SLICE = 20_000;
/**
 * The least a slice shrinks to. While the guest runs code the cache has not seen (a restored VM's
 * first exec: every block built and interpreted), 20,000 instructions took 50 to 700 ms, and the
 * control socket and the agent's channel waited as long; the loop then shrinks the slice so that
 * a round stays near YIELD_MS, and grows it back once the code is hot.
 */
const MIN_SLICE = 500;
/**
 * The most a slice grows to: one hart alone, running compiled code at 500 MIPS or more (a hot loop,
 * not boot's mix of compiled and cold code: growing there measured 1.07x boot CPU), no timer
 * deadline nearer.
 * Between slices the loop reads the clock three or four times, polls the timers and checks for a
 * yield, in baseline code for the first hundred milliseconds or so (V8 optimizes the async run()
 * late); at SLICE that was about 4 % of a CPU-bound program's emulation (docs/benchmarks.md,
 * "cpuloop"). A long slice still interprets at most SLICE instructions (runHart's `slow`), so cold
 * code ends it as early as a slice of SLICE would end.
 */
const LONG_SLICE = 320_000;
/** A round shorter than this (host ms) lets a lone hart's slice grow past SLICE. */
const QUICK_MS = 0.5;
/** Instructions per host ms a round must reach to grow (500 MIPS: compiled loops, not boot's mix). */
const FAST_RATE = 500_000;
/** A long slice's round over this (host ms) goes back to SLICE. */
const LONG_MS = 1;
/** Host milliseconds between yields to the event loop. */
const YIELD_MS = 8;
/** The longest delay setTimeout takes (a signed 32-bit count of milliseconds). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Machine implements HartHost {
  readonly clock = new Clock(TIMEBASE_HZ);
  readonly bus = new MmioBus();
  readonly harts: Hart[] = [];
  readonly cache: CodeCache;
  /**
   * Devices whose time-driven state the loop brings up to date between slices (the CLINT's
   * mtimecmp, the RTC's alarm); each returns its next deadline in Clock ticks, which bounds how
   * long an idle machine sleeps, or Infinity for none.
   */
  readonly timers: { poll(): number }[] = [];
  uart: Uart16550 | null = null;
  sbi: ((h: Hart) => void) | null = null;
  /** Console input (the terminal, `corral console`) for the guest's console device; set by the builder. */
  consoleInput: (bytes: Uint8Array) => void = () => {};
  private exitReason: MachineExit | null = null;
  /** A pause asked for (pause()): the loop stops at the next slice boundary and calls `reached`. */
  private pauseAsk: { reached: () => void; resumed: Promise<void> } | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly pendingTrim: ((blocks: number) => void)[] = [];
  private readonly panic = new PanicWatch((message) => this.finish({ kind: "panic", message }));
  /** Instructions retired by all harts. */
  retired = 0;
  /**
   * Of those, by hart, the ones retired in compiled code, once a run on threads ended (the SMP
   * tests check that each hart's thread compiles and runs code; empty otherwise).
   */
  retiredCompiled: number[] = [];
  /** Hart threads: blocks each hart ran in code another hart's thread compiled (threads/code-share.ts). */
  adoptedBlocks: number[] = [];
  /**
   * Called after each hart's slice with the instructions it retired (`corral run --profile`,
   * src/profile/): null unless profiling, so a run without a profile pays one test per slice.
   */
  sampler: ((h: SampledHart, retired: number) => void) | null = null;

  constructor(
    readonly ram: GuestRam,
    cpus: number,
    private readonly consoleSink: (bytes: Uint8Array) => void,
  ) {
    this.cache = new CodeCache(ram, () => this.harts);
    for (let i = 0; i < cpus; i++) this.harts.push(new Hart(i, this));
  }

  // ---- HartHost ----
  codeWritten(ramPage: number, inPage: number, size: number): void {
    this.cache.codeWritten(ramPage, inPage, size);
  }
  wake(_h: Hart): void {
    const w = this.wakeUp;
    if (w) {
      this.wakeUp = null;
      w();
    }
  }

  /**
   * A device has handed the host something to answer now (the agent reported an exec's end): end
   * the running slice at the next block and give the event loop its turn, where the answer goes
   * out, instead of after the guest's next WFI or YIELD_MS. After an exec's end the guest runs on
   * for some 8,000 instructions (the agent's reap, the kernel's exit work) before it idles, and a
   * guest busy with other work would hold the answer for up to YIELD_MS. Harts on threads leave
   * this thread's event loop free: nothing to do.
   */
  serveHost(): void {
    if (this.threads !== null || this.exitReason !== null) return;
    this.hostDue = true;
    for (const h of this.harts) {
      h.yieldNow = true;
      h.irqCheck = true;
    }
  }
  private hostDue = false;

  /** Guest console output (UART or SBI debug console): to the sink, and watched for a kernel panic. */
  consoleWrite(bytes: Uint8Array): void {
    this.consoleSink(bytes);
    this.panic.feed(bytes);
  }

  /**
   * Drop the code cache (CodeCache.trim) at the next pause between slices, so no block is
   * running when it goes; the guest's next blocks are built again as they run. Resolves with the
   * number of blocks dropped.
   */
  trimCode(): Promise<number> {
    // Harts on threads keep caches of their own, which this thread cannot reach.
    if (this.ram.shared) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.pendingTrim.push(resolve);
      this.wake(this.harts[0]!);
    });
  }

  get exited(): MachineExit | null {
    return this.exitReason;
  }

  /** End the run (first reason wins). */
  finish(e: MachineExit): void {
    if (this.exitReason === null) {
      this.exitReason = e;
      // The hart that wrote the test finisher (or called SBI SRST) stops after that instruction,
      // as QEMU does, not at the end of its slice: its code would run on (a bare-metal program
      // spins in a loop there), being compiled, for nothing. Compiled code returns at the next
      // service call that sees irqCheck; runHart at the next block (exec.ts). The loop below
      // runs no hart once the machine has ended.
      for (const h of this.harts) {
        h.yieldNow = true;
        h.irqCheck = true;
      }
    }
    this.wake(this.harts[0]!);
  }

  /** Ask a running machine to stop, as Ctrl-A X does, or because this process got `signal`. */
  stop(signal?: StopSignal): void {
    this.finish(signal === undefined ? { kind: "stopped" } : { kind: "stopped", signal });
  }

  async run(): Promise<MachineExit> {
    if (this.ram.shared) return this.runThreaded();
    let lastYield = performance.now();
    try {
      while (this.exitReason === null) {
        const ask = this.pauseAsk;
        if (ask) {
          this.clock.freeze();
          ask.reached();
          await ask.resumed;
          this.clock.thaw();
          continue;
        }
        let ran = 0;
        const budget = this.sliceFor();
        const before = this.retired;
        const roundStart = performance.now();
        for (const h of this.harts) {
          if (h.state !== HartState.Started) continue;
          if (h.sleeping) {
            // WFI ends once an interrupt is pending and enabled in mie (privileged spec 3.3.3).
            if ((h.mip & h.mie) === 0) continue;
            h.sleeping = false;
          }
          // A PAUSE ends the hart's slice, not its next one (ops-sys.ts pause).
          h.yieldNow = false;
          const n = runHart(h, this.cache, budget, SLICE);
          this.retired += n;
          if (this.sampler !== null) this.sampler(h, n);
          ran++;
          if (this.exitReason !== null || this.hostDue) break;
        }
        if (ran > 1) for (const h of this.harts) h.reservation = -1;
        if (ran > 0) this.adaptSlice(performance.now() - roundStart, this.retired - before);
        if (this.hostDue && this.exitReason === null) {
          this.hostDue = false;
          for (const h of this.harts) h.yieldNow = false;
          await new Promise<void>((r) => setImmediate(r));
          lastYield = performance.now();
          continue;
        }
        if (this.pendingTrim.length > 0) {
          const n = this.cache.trim();
          for (const r of this.pendingTrim.splice(0)) r(n);
        }
        const deadline = this.pollTimers();
        if (ran === 0 && this.exitReason === null) await this.idle(deadline);
        const now = performance.now();
        if (now - lastYield >= YIELD_MS) {
          await new Promise<void>((r) => setImmediate(r));
          lastYield = performance.now();
        }
      }
    } catch (e) {
      // A bug in Corral, never the guest's doing: stop this VM, keep the host process alive.
      this.exitReason = { kind: "fault", message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    return this.exitReason;
  }

  /**
   * Run each hart on a thread of its own (threads/): this thread keeps the devices, their timers
   * and the host's I/O, and waits here until the machine ends.
   */
  private async runThreaded(): Promise<MachineExit> {
    const threads = new HartThreads(this);
    this.threads = threads;
    try {
      while (this.exitReason === null) await new Promise<void>((r) => (this.wakeUp = r));
    } finally {
      this.threads = null;
      // The totals once every hart's thread has ended: until then the other harts run on past the
      // exit, and their last sample batches (posted after their totals) are replayed during close,
      // so totals read before it could count fewer instructions than the profile was given.
      await threads.close();
      this.retired = threads.retired();
      this.retiredCompiled = threads.retiredCompiled();
      this.adoptedBlocks = threads.adoptedBlocks();
    }
    return this.exitReason;
  }

  /**
   * Stop the harts at the next slice boundary (every instruction whole, device state settled) with
   * the guest's clock frozen, as for a snapshot; resolves once they have stopped, with the function
   * that lets them run again. The guest does not see the time spent paused. A machine that has
   * ended (or ends meanwhile) resolves at once.
   */
  pause(): Promise<() => void> {
    if (this.pauseAsk) throw new Error("machine already paused");
    const threads = this.threads;
    if (threads !== null && this.exitReason === null) return this.pauseThreads(threads);
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    return new Promise((resolve) => {
      const done = (): void =>
        resolve(() => {
          this.pauseAsk = null;
          resume();
        });
      this.pauseAsk = { reached: done, resumed };
      if (this.exitReason !== null) done();
      else this.wake(this.harts[0]!);
    });
  }

  /** pause() for harts on threads: their states are kept for hartStates() while paused. */
  private async pauseThreads(threads: HartThreads): Promise<() => void> {
    this.pauseAsk = { reached: () => {}, resumed: Promise.resolve() };
    this.clock.freeze();
    this.pausedStates = await threads.pause();
    return () => {
      this.pausedStates = null;
      this.pauseAsk = null;
      this.clock.thaw();
      threads.resume();
    };
  }

  /** The harts' architectural state (Hart.saveState), for a snapshot of a paused machine. */
  hartStates(): SavedState[] {
    return this.pausedStates ?? this.harts.map((h) => h.saveState());
  }
  private threads: HartThreads | null = null;
  private pausedStates: SavedState[] | null = null;

  /** Instructions per hart per round: SLICE, less while a round takes much longer than YIELD_MS. */
  private slice = SLICE;
  /** Instructions per host ms in the last round (for sliceFor's deadline bound). */
  private rate = 0;
  private adaptSlice(ms: number, retired: number): void {
    this.rate = retired / Math.max(ms, 1e-3);
    if (ms > 2 * YIELD_MS) this.slice = Math.max(MIN_SLICE, Math.min(SLICE, this.slice) >> 1);
    else if (this.slice > SLICE && ms > LONG_MS) this.slice = SLICE;
    else if (ms < YIELD_MS / 2 && this.slice < SLICE) this.slice = Math.min(SLICE, this.slice << 1);
    // Past SLICE for one hart only: several take turns at SLICE (an IPI's target runs in the next
    // round), and a profile samples once a slice.
    else if (this.harts.length === 1 && this.sampler === null && ms < QUICK_MS && this.rate >= FAST_RATE)
      this.slice = Math.min(LONG_SLICE, this.slice << 1);
  }
  /**
   * This round's budget: the slice, past SLICE only as far as the next timer deadline (the clock
   * read now) at the last round's speed, so that a timer interrupt is seen about as early as after
   * a slice of SLICE.
   */
  private sliceFor(): number {
    if (this.slice <= SLICE || this.deadline === Infinity) return this.slice;
    const ms = this.clock.msUntil(this.deadline);
    return Math.max(SLICE, Math.min(this.slice, Math.floor(ms * this.rate)));
  }
  /** The next timer deadline pollTimers found. */
  private deadline = Infinity;

  /** What the machine itself keeps beyond harts and devices: the guest's clock. */
  saveState(): { ticks: number; retired: number } {
    return { ticks: this.clock.ticks(), retired: this.retired };
  }
  restoreState(s: { ticks: number; retired: number }): void {
    this.clock.continueFrom(s.ticks);
    this.retired = s.retired;
  }

  /** Update timer interrupts; returns the earliest future deadline in ticks. */
  private pollTimers(): number {
    let next = Infinity;
    for (const t of this.timers) next = Math.min(next, t.poll());
    const now = this.clock.ticks();
    for (const h of this.harts) {
      h.updateTimer(now);
      if (h.stimecmp > now && h.stimecmp < next) next = h.stimecmp;
    }
    this.deadline = next;
    return next;
  }

  /**
   * Sleep until the next timer deadline or a wake-up. With no deadline at all (every hart waits
   * with its interrupts off, or has stopped) the guest waits forever, as on QEMU; the timer is
   * still armed, at its longest, because it is what keeps Node's event loop, and so the process,
   * alive: without it the run would end as if the guest had powered off.
   */
  private async idle(deadline: number): Promise<void> {
    // A hart that became runnable meanwhile (its interrupt is pending) needs no sleep.
    for (const h of this.harts) if (h.state === HartState.Started && (!h.sleeping || (h.mip & h.mie) !== 0)) return;
    const ms = Math.min(Math.max(0, this.clock.msUntil(deadline)), MAX_TIMER_MS);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.wake(this.harts[0]!), ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Release host resources held by devices (reverse order of creation). */
  close(): void {
    this.bus.close();
  }
}

/**
 * Watches console output for Linux's panic banner ("Kernel panic - not syncing: ..."), so a
 * panicked guest is reported and stopped instead of spinning forever.
 */
class PanicWatch {
  private tail = "";
  private message: string | null = null;
  constructor(private readonly onPanic: (message: string) => void) {}
  feed(bytes: Uint8Array): void {
    this.tail = (this.tail + Buffer.from(bytes).toString("latin1")).slice(-512);
    if (this.message === null) {
      const i = this.tail.indexOf("Kernel panic - not syncing");
      if (i < 0) return;
      this.tail = this.tail.slice(i);
      this.message = "";
    }
    const nl = this.tail.indexOf("\n");
    if (nl >= 0) {
      this.message = this.tail.slice(0, nl).replace(/\r$/, "");
      this.onPanic(this.message);
    }
  }
}
