/**
 * The machine's side of harts on threads of their own (hart-worker.ts has the design): one
 * worker_thread per hart, the MMIO mailboxes served and the devices' timers polled here, on the
 * VM process's main thread, which stays free for the control socket and signals.
 */
import { statSync } from "node:fs";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { Hart, PhysBus } from "../../cpu/hart/hart.js";
import type { Clock } from "../clock.js";
import type { GuestRam } from "../memory.js";
import type { MachineExit } from "../machine.js";
import { HART_SLOTS, HartArea } from "../../cpu/wasm/layout.js";
import type { SavedState } from "../../snapshot/state.js";
import { CodeSync } from "./code-sync.js";
import { HartSlots } from "./hart-slots.js";
import type { HartThreadInit, HartThreadMessage } from "./hart-worker.js";
import { MailboxServer, mailboxBuffer } from "./mmio-mailbox.js";
import { replaySamples } from "./samples.js";
import type { SampledHart } from "../../profile/guest.js";

/** What the threads need from their machine. */
export interface ThreadedMachine {
  readonly ram: GuestRam;
  readonly harts: readonly Hart[];
  readonly bus: PhysBus;
  readonly clock: Clock;
  readonly timers: readonly { poll(): number }[];
  readonly sbi: unknown;
  /** `corral run --profile`'s sampler (set before the run starts). */
  readonly sampler: ((h: SampledHart, retired: number) => void) | null;
  consoleWrite(bytes: Uint8Array): void;
  finish(e: MachineExit): void;
}

/**
 * The hart worker's module: scripts/bundle.mjs's one-file build of hart-worker.js when it is not
 * older than tsc's (the rule of src/entry.ts entryFile, which this module does not import: it
 * would bring the code cache's modules into every VM that runs harts on threads), so that each
 * worker's isolate loads one file, not 69 (docs/benchmarks.md, "smp5").
 */
function workerFile(): URL {
  const compiled = new URL("./hart-worker.js", import.meta.url);
  const bundled = new URL("../../../bundle/hart-worker.mjs", import.meta.url);
  try {
    return statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs ? bundled : compiled;
  } catch {
    return compiled;
  }
}

/** The longest the device timers go unpolled (a deadline may have been set meanwhile). */
const POLL_MS = 50;

export class HartThreads {
  private readonly workers: Worker[] = [];
  private readonly slots: HartSlots[];
  private readonly server: MailboxServer;
  private timer: NodeJS.Timeout | null = null;
  /** The machine clock's origin, shared with the harts' threads (it moves when a pause ends). */
  private readonly origin = new BigInt64Array(new SharedArrayBuffer(8));
  /** Blocks each hart runs in code another hart compiled (code-share.ts), by hart. */
  private readonly shared = new Float64Array(new SharedArrayBuffer(8 * HART_SLOTS));
  /** The harts' states of the current pause, by hart, and the pause's waiter. */
  private paused: (SavedState | undefined)[] = [];
  private onPaused: (() => void) | null = null;

  constructor(private readonly m: ThreadedMachine) {
    const memory = m.ram.memory!;
    Atomics.store(this.origin, 0, m.clock.origin);
    const cpus = m.harts.length;
    this.slots = m.harts.map((_, i) => new HartSlots(memory.buffer, i));
    const sync = new CodeSync(m.ram.codePages, this.slots);
    // A device's DMA into a page some hart has code from.
    m.ram.onCodeWrite = (page) => sync.written(page, -1);
    // A port between every two harts' threads, for the batches each compiles (code-share.ts).
    const ports: MessagePort[][] = m.harts.map(() => []);
    for (let i = 0; i < cpus; i++)
      for (let j = i + 1; j < cpus; j++) {
        const { port1, port2 } = new MessageChannel();
        ports[i]!.push(port1);
        ports[j]!.push(port2);
      }
    const mailbox = mailboxBuffer(cpus);
    const file = workerFile();
    this.server = new MailboxServer(mailbox, cpus, m.bus, () => this.pollTimers());
    m.harts.forEach((h, i) => {
      const slot = this.slots[i]!;
      h.remoteWake = () => slot.request(0);
      const init: HartThreadInit = {
        memory,
        codePages: m.ram.codePages,
        dirty: sync.dirty,
        mailbox,
        hartId: i,
        cpus,
        ramSize: m.ram.size,
        ramBase: m.ram.base,
        origin: this.origin,
        hz: m.clock.hz,
        sbi: m.sbi !== null,
        saved: h.saveState(),
        profile: m.sampler !== null,
        codePorts: ports[i]!,
        shared: this.shared,
      };
      const w = new Worker(file, {
        workerData: init,
        transferList: ports[i]!,
      });
      w.on("message", (msg: HartThreadMessage) => this.message(msg));
      w.on("error", (e) => m.finish({ kind: "fault", message: e.stack ?? e.message }));
      this.workers.push(w);
    });
    void this.server.serve();
    this.pollTimers();
  }

  private message(msg: HartThreadMessage): void {
    switch (msg.kind) {
      case "console":
        return this.m.consoleWrite(msg.bytes);
      case "exit":
        return this.m.finish(msg.exit);
      case "fault":
        return this.m.finish({ kind: "fault", message: msg.message });
      case "samples":
        if (this.m.sampler !== null) replaySamples(msg.records, this.m.ram, this.m.sampler);
        return;
      case "paused":
        this.paused[msg.hart] = msg.state;
        if (this.paused.filter((s) => s !== undefined).length === this.slots.length) this.onPaused?.();
        return;
    }
  }

  /**
   * Stop every hart at its next slice boundary; resolves with their states once all have, when
   * this thread is the only one that touches the machine. Their interrupt-pending bits are read
   * then, not when each hart saved: devices on this thread may have changed them meanwhile.
   */
  async pause(): Promise<SavedState[]> {
    this.paused = [];
    await new Promise<void>((resolve) => {
      this.onPaused = resolve;
      for (const s of this.slots) s.setPause(true);
    });
    this.onPaused = null;
    return this.paused.map((state, i) => ({
      ...state!,
      mipExt: this.slots[i]!.s[HartArea.mipExt >>> 2]!,
      mipSw: this.slots[i]!.s[HartArea.mipSw >>> 2]!,
    }));
  }

  /** Let the harts go on, on the machine clock's (moved) origin. */
  resume(): void {
    Atomics.store(this.origin, 0, this.m.clock.origin);
    for (const s of this.slots) s.setPause(false);
  }

  /** Bring the devices' time-driven state up to date and sleep until the next deadline. */
  private pollTimers(): void {
    let next = Infinity;
    for (const t of this.m.timers) next = Math.min(next, t.poll());
    if (this.timer !== null) clearTimeout(this.timer);
    const ms = Math.min(POLL_MS, Math.max(1, this.m.clock.msUntil(next)));
    this.timer = setTimeout(() => this.pollTimers(), ms);
  }

  /** Instructions retired by all harts so far. */
  retired(): number {
    return this.slots.reduce((n, s) => n + s.retired, 0);
  }

  /** Of those, the instructions each hart retired in compiled code, by hart. */
  retiredCompiled(): number[] {
    return this.slots.map((s) => s.retiredCompiled);
  }

  /** Of the blocks each hart compiled or took, those it took from another hart's thread (code-share.ts). */
  adoptedBlocks(): number[] {
    return this.slots.map((_, i) => this.shared[i]!);
  }

  /** End every hart's thread (they may be spinning in guest code: terminate interrupts that). */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.server.stop();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
