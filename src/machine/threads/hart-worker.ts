/**
 * One hart on a thread of its own (worker_threads), over the machine's shared guest RAM.
 *
 * Design (issue 17 item 2). RAM, every hart's registers, TLBs and slots are one shared
 * WebAssembly.Memory (memory.ts `shared`; wasm threads: a shared memory has a fixed maximum).
 * Each hart thread has its own decoded-block cache, JavaScript and wasm code, jump cache (in its
 * hart's area: layout.ts HartArea.jc) and TLB. What crosses threads:
 * - AMOs and LR/SC are host atomic operations on the shared memory (cpu/isa/ops-atomic.ts; the
 *   unprivileged spec's "A" chapter, RVWMO); FENCE RW,RW is a host barrier (kinds.ts).
 * - Code written by one hart or by DMA and cached by another is dropped by that one before it
 *   runs again past a FENCE.I (code-sync.ts, Zifencei).
 * - IPIs, remote fences and hart start (SBI chapters 7-9) go through the harts' slots
 *   (hart-slots.ts, remote.ts); RFENCE waits until the target served it, as the SBI requires.
 * - Interrupt pending bits (mip, privileged spec 3.1.9) live in the hart's area: devices on the
 *   main thread set them atomically and ring the hart's doorbell; a hart in WFI (3.3.3) sleeps in
 *   Atomics.wait until the doorbell or its next timer deadline, without burning a core.
 * - Device registers (MMIO) are served by the main thread (mmio-mailbox.ts), where the devices,
 *   the timers and the control socket stay: a guest spinning on every hart never blocks them.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { SPIN, THREADS } from "../../cpu/isa/threaded.js";
import { CodeCache, runHart } from "../../cpu/engine/exec.js";
import { Hart, HartState, type HartHost } from "../../cpu/hart/hart.js";
import { PRIV_S } from "../../cpu/isa/defs.js";
import { HartArea } from "../../cpu/wasm/layout.js";
import type { SavedState } from "../../snapshot/state.js";
import { Clock } from "../clock.js";
import { GuestRam } from "../memory.js";
import { Sbi } from "../sbi.js";
import { CodeShare } from "./code-share.js";
import { CodeSync } from "./code-sync.js";
import { HartSlots, REQ_CODE, REQ_START, REQ_SYNC, REQ_TLB } from "./hart-slots.js";
import { allReady, MailboxBus } from "./mmio-mailbox.js";
import { RemoteHarts } from "./remote.js";
import { SampleBatcher } from "./samples.js";
import { SLICE, SliceSize } from "./slice.js";
import type { MachineExit } from "../machine.js";

/** What the machine's thread hands a hart's thread (threads/run.ts). */
export interface HartThreadInit {
  memory: WebAssembly.Memory;
  codePages: Uint8Array;
  dirty: Uint8Array;
  mailbox: SharedArrayBuffer;
  hartId: number;
  cpus: number;
  ramSize: number;
  ramBase: number;
  /** The machine clock's origin (Clock.origin), kept up to date across pauses by the machine's thread. */
  origin: BigInt64Array;
  hz: number;
  /** Corral is the SBI (direct boot). */
  sbi: boolean;
  saved: SavedState;
  /** `corral run --profile`: post each slice's sample (samples.ts). */
  profile: boolean;
  /** A port to each other hart's thread, for compiled code (code-share.ts). */
  codePorts: MessagePort[];
  /** Blocks each hart adopted from another (code-share.ts), by hart: this hart writes its own. */
  shared: Float64Array;
}

/** Messages to the machine's thread. */
export type HartThreadMessage =
  | { kind: "console"; bytes: Uint8Array }
  | { kind: "exit"; exit: MachineExit }
  | { kind: "fault"; message: string }
  /** Profile samples (samples.ts). */
  | { kind: "samples"; records: Float64Array }
  /** Paused at a slice boundary (the machine asked, HartSlots.setPause): the hart's state then. */
  | { kind: "paused"; hart: number; state: SavedState };

/** A spinning hart's sleep (ops-sys.ts pause): about the host's shortest timed wait. */
const SPIN_SLEEP_MS = 0.05;
/** Longest sleep before a parked hart looks again on its own. */
const MAX_WAIT_MS = 100;

THREADS.on = true; // before anything decodes
const d = workerData as HartThreadInit;
const post = (m: HartThreadMessage, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(m, transfer);
const ram = new GuestRam(d.ramSize, d.ramBase, { attach: { memory: d.memory, codePages: d.codePages } });
const slots = Array.from({ length: d.cpus }, (_, i) => new HartSlots(d.memory.buffer, i));
const me = slots[d.hartId]!;
const codeSync = new CodeSync(ram.codePages, slots, d.dirty);
const clock = new Clock(d.hz);
clock.adopt(Atomics.load(d.origin, 0));
let halted = false;
const samples = d.profile
  ? new SampleBatcher((records) => post({ kind: "samples", records }, [records.buffer as ArrayBuffer]))
  : null;

const host: HartHost & { sbi: ((h: Hart) => void) | null } = {
  ram,
  bus: new MailboxBus(d.mailbox, d.hartId),
  clock,
  codeWritten(page) {
    if (cache.holds(page)) cache.invalidatePage(page);
    codeSync.written(page, d.hartId);
  },
  sbi: null,
  wake() {},
};

// The slots other threads may already have written (a device's interrupt) survive the set-up.
const ext = me.s[HartArea.mipExt >>> 2]!;
const sw = me.s[HartArea.mipSw >>> 2]!;
ram.useHartArea(d.hartId);
const h = new Hart(d.hartId, host);
h.restoreState(d.saved);
Atomics.or(me.s, HartArea.mipExt >>> 2, ext);
Atomics.or(me.s, HartArea.mipSw >>> 2, sw);
const cache = new CodeCache(ram, () => [h]);
// This thread never returns to its event loop (loop() below): a batch compiled off the thread
// would never be installed.
if (cache.wasm) cache.wasm.compileOffThread = false;
cache.codeBit = 1 << d.hartId;
cache.protectElsewhere = (page) => {
  for (const s of slots) if (s !== me) s.protectCodePage(page);
};
const share = process.env["CORRAL_SHARE_CODE"] === "0" ? null : new CodeShare(d.codePorts, cache, h);

/** Serve the requests other harts left; `fid` 0 or more: also this hart's own RFENCE (SBI 8). */
function serve(fid: number): void {
  const r = me.requests();
  if (fid >= 1 || r & REQ_TLB) h.flushTlb();
  if (fid === 0 || r & (REQ_CODE | REQ_SYNC))
    codeSync.take(
      d.hartId,
      (p) => cache.holds(p),
      (p) => cache.invalidatePage(p),
    );
  if (r & REQ_START && h.state === HartState.StartPending) start();
  if (r !== 0) me.served(r);
}

/** HSM hart_start (SBI 9.1), as sbi.ts does it for a hart of the same thread. */
function start(): void {
  const { pc, lo, hi } = me.start();
  const { mideleg, medeleg, mcounteren } = h;
  const envcfg = h.scratch.slice(4, 6);
  h.reset(pc);
  h.mideleg = mideleg;
  h.medeleg = medeleg;
  h.mcounteren = mcounteren;
  h.scratch.set(envcfg, 4);
  h.openPmp();
  h.setPriv(PRIV_S);
  h.x[20] = d.hartId;
  h.x[21] = 0;
  h.x[22] = lo;
  h.x[23] = hi;
  h.state = HartState.Started;
}

if (d.sbi) {
  const sbi = new Sbi({
    harts: [],
    now: () => clock.ticks(),
    ramSlice: (pa, len) => (ram.contains(pa, len) ? ram.slice(pa, len) : undefined),
    consoleWrite: (bytes) => post({ kind: "console", bytes: bytes.slice() }),
    consoleRead: () => -1,
    systemReset: (kind, code) => {
      post({ kind: "exit", exit: kind === "poweroff" ? { kind: "poweroff", code } : { kind: "reset" } });
      halted = true;
      h.yieldNow = true;
      h.irqCheck = true;
    },
    wake: () => {},
    remote: new RemoteHarts(slots, d.hartId, serve),
  });
  host.sbi = (x) => sbi.call(x);
}

// A profile samples once a slice (samples.ts): its slices stay at SLICE.
const slices = new SliceSize(!d.profile);

function loop(): void {
  let retired = 0;
  for (;;) {
    const seen = me.doorbell();
    if (me.requests() !== 0) serve(-1);
    if (me.pauseAsked()) {
      post({ kind: "paused", hart: d.hartId, state: h.saveState() });
      while (me.pauseAsked()) me.wait(me.doorbell(), MAX_WAIT_MS * 10);
      // The guest does not see the time spent paused (Machine.pause): the clock moved on.
      clock.adopt(Atomics.load(d.origin, 0));
      continue;
    }
    if (halted || h.state !== HartState.Started) {
      samples?.flush();
      me.wait(seen, MAX_WAIT_MS * 10);
      continue;
    }
    const now = clock.ticks();
    h.updateTimer(now);
    if (h.sleeping) {
      if ((h.mip & h.mie) === 0) {
        samples?.flush();
        me.wait(seen, h.stimecmp > now ? Math.min(MAX_WAIT_MS, clock.msUntil(h.stimecmp)) : MAX_WAIT_MS);
        continue;
      }
      h.sleeping = false;
    }
    if (share !== null) {
      share.poll();
      d.shared[d.hartId] = share.adoptedBlocks;
    }
    h.irqCheck = true;
    h.yieldNow = false;
    SPIN.pauses = 0;
    const t0 = performance.now();
    const n = runHart(h, cache, slices.budget(h.stimecmp, clock), SLICE);
    slices.after(performance.now() - t0, n);
    retired += n;
    me.retired = retired;
    if (cache.wasm !== null) me.retiredCompiled = cache.wasm.retired;
    samples?.add(h, n);
    if (SPIN.exit) {
      // A spin-wait (ops-sys.ts pause): give the host core to the harts that may hold the lock.
      SPIN.exit = false;
      me.wait(seen, SPIN_SLEEP_MS);
    }
  }
}

allReady(d.mailbox, d.cpus);
try {
  loop();
} catch (e) {
  post({ kind: "fault", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
