/**
 * The waiting side of a warm VM process (pool.ts): warm up, then wait on the process's socket
 * until a restore takes it, and hand its config to daemon.ts, which runs the VM as any VM
 * process does.
 *
 * Warming up: what makes a restored VM's first exec slow in a new process is V8 and the guest's
 * code cache. The emulator's own functions (the interpreter, the block builder, the MMU, the wasm
 * tier's code generator) start in V8's interpreter and are optimized only once hot, and the heap
 * grows in many small collections; and every guest block the first exec runs is decoded,
 * interpreted and compiled again. Measured in one process (docs/benchmarks.md, "Restore from a
 * warm process"): the first `exec true` of a restore took 1350 ms of CPU in a new process, 420 ms
 * in one that had restored a snapshot before, 42 to 136 ms with the guest's code cached. So the
 * pool process restores the snapshot it was given into a machine of its own and runs what a
 * restore runs (the clock and hostname, `true`), then keeps that machine paused (WarmMachine): a
 * VM of the same spec that takes the process runs on it, with its snapshot's RAM swapped in
 * (src/snapshot/swap.ts keeps the cached blocks of every page whose bytes did not change). A
 * snapshot whose NICs must change (port forwards, a switch, a TAP: the warm-up must not take the
 * host's ports or a switch's port) is warmed up with a user-mode NIC and its machine dropped
 * after; one with disks is not warmed up on.
 */
import { closeSync, existsSync, openSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setPriority } from "node:os";
import { VirtioConsole } from "../devices/virtio/console.js";
import { VmGenId } from "../devices/vmgenid.js";
import { AgentChannel } from "./agent/channel.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { composeVm, type Composed } from "./compose.js";
import type { MachineExit } from "../machine/machine.js";
import { memberFiles, poolDir, POOL_IDLE_MS, TAKEN_REPLY, type PoolClaim } from "./pool.js";
import { parseVmSpec, type VmSpec } from "./spec.js";
import { DAEMON_MARKER } from "./state.js";
import { checkSnapshot, readState, restoreMachine } from "../snapshot/restore.js";
import { SNAPSHOT_FILES } from "../snapshot/format.js";
import { epochMs } from "./phases.js";
import { swapBuffer } from "../snapshot/swap.js";
import { request } from "node:http";
import { serveControl } from "./server.js";
import { NDJSON, ROUTES } from "./control/protocol.js";
import type { VmContext } from "./daemon.js";
import { ReleasingBalloon } from "./madvise.js";
import { checkFirstExec, type FirstExecResult } from "./first-exec.js";

/** Longest a warm-up may take; a guest that does not answer by then is dropped unwarmed. */
const WARM_TIMEOUT_MS = 60_000;
/**
 * Execs run in the warm-up. A restore's first exec on the warm machine cost 90 ms of host CPU after 3
 * (the next ones 89, 80, 77, 62, 37: kernel blocks run a few hundred times an exec reach the wasm
 * tier only after several execs), 70 ms after 20 (docs/benchmarks.md, "Restore to its first exec").
 */
const WARM_EXECS = 20;
/**
 * Guest idle time before the warm-up's last T frame: long enough for its kernel to stop the tick
 * (a few of its 4 ms jiffies once RCU has no callbacks left), as a parent's has when it forks.
 */
const WARM_IDLE_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A warm-up machine kept for the VM that takes this process (daemon.ts): paused between slices,
 * its clock frozen, its code cache full of the snapshot's hot code. Kept only when its spec is
 * the snapshot's own (no NIC had to be replaced), so a claim of the same spec can run on it.
 */
export interface WarmMachine {
  /** A VM of `spec` (its name aside) restored from a snapshot with (or without) SBI can run on this machine. */
  fits(spec: VmSpec, sbi: boolean): boolean;
  composed: Composed;
  /** Lets the paused machine run on (Machine.pause). */
  resume: () => void;
  /** The machine's run, started in the warm-up: it ends when the VM does. */
  running: Promise<MachineExit>;
  /** Where the guest's console output goes from now on. */
  setConsole(sink: (b: Uint8Array) => void): void;
  /**
   * The RAM pages the warm-up wrote (GuestRam.residentPages), found once it paused, so that the
   * swap (src/snapshot/swap.ts) need not read /proc/self/pagemap once the process is taken.
   */
  written: readonly number[];
}

/** What a claim must match to take a warm machine: its spec without the name, and whether it boots through SBI. */
const warmKey = (spec: VmSpec, sbi: boolean): string => JSON.stringify({ spec: { ...spec, name: "" }, sbi });

/**
 * Restore `dir` into a machine of this process and run a few execs in it, the last ones through a
 * control server on the socket `control` (warmControl), removed after. The machine is kept,
 * paused, when a VM of the same spec can run on it (a snapshot without NICs other than user-mode
 * ones without port forwards, and without disks); otherwise it is dropped.
 */
export async function warmUp(dir: string, home: string, control: string): Promise<WarmMachine | undefined> {
  const snap = checkSnapshot(dir, { trustRam: true });
  if (snap.manifest.disks.length > 0) return undefined;
  // Only a NIC's backend changes (its name, MAC and limits stay): a snapshot whose NICs are all
  // user-mode ones without port forwards keeps the very spec, so its machine can be kept.
  const devices: VmSpec["devices"] = snap.spec.devices.map((d) =>
    d.kind === "net" ? { ...d, backend: { type: "user" } } : d,
  );
  const keep = JSON.stringify(devices) === JSON.stringify(snap.spec.devices);
  const spec = parseVmSpec({ ...snap.spec, name: "pool-warm-up", devices });
  const fd = openSync(join(snap.dir, SNAPSHOT_FILES.ram), "r");
  const overlay = snap.manifest.ramOverlay ? openSync(join(snap.dir, snap.manifest.ramOverlay.name), "r") : undefined;
  let sink: (b: Uint8Array) => void = () => {};
  let composed: Composed;
  try {
    composed = await composeVm(spec, {
      console: (b) => sink(b),
      home,
      restore: { ramFile: fd, ramOverlay: overlay, sbi: snap.manifest.sbi },
    });
  } finally {
    for (const f of [fd, overlay]) if (f !== undefined) closeSync(f);
  }
  const m = composed.machine;
  let kept: WarmMachine | undefined;
  try {
    const port = composed.devices
      .flatMap((d) => (d instanceof VirtioConsole ? [d.port(AGENT_PORT_NAME)] : []))
      .find((p) => p !== undefined);
    if (!port) return undefined;
    const agent = new AgentChannel(port, spec.name ?? "pool-warm-up");
    const host = restoreMachine(m, readState(snap.dir));
    const a = host["agent"] as { ready: boolean; version: number | null; nextId: number } | undefined;
    if (a) agent.restoreState(a);
    // As a fork's clone does (daemon.ts): a new generation ID, so that the guest kernel's reseed
    // on it (drivers/virt/vmgenid.c, about 100,000 guest instructions) is cached code by the
    // time a clone runs it beside its first exec.
    for (const d of m.bus.devices()) if (d instanceof VmGenId) d.newGeneration();
    const running = m.run();
    const timer = setTimeout(() => m.stop(), WARM_TIMEOUT_MS);
    let warm = false;
    try {
      // What a restore runs (daemon.ts resync), then execs.
      if (agent.setsIdentity) await agent.setIdentity({ epochMs: epochMs(), hostname: "pool-warm-up" });
      const script = `date -s @${Math.floor(Date.now() / 1000)} >/dev/null && hostname pool-warm-up`;
      const exec = async (argv: string[]): Promise<void> => {
        await agent.exec({ argv, timeoutMs: WARM_TIMEOUT_MS }, () => {}).done;
      };
      for (let i = 0; i < WARM_EXECS && m.exited === null; i++)
        await exec(i === 0 && !agent.setsIdentity ? ["sh", "-c", script] : ["true"]);
      // A clone's guest comes from a parent that sat idle, its tick stopped; it wakes for the T
      // frame and goes idle again before its first exec. The execs above run back to back, so
      // their guest never stops its tick (NO_HZ), and a clone built and interpreted those paths
      // itself (tick_nohz_idle_exit and tick_nohz_restart_sched_tick on the T frame, 60 blocks;
      // tick_nohz_idle_stop_tick and __get_next_timer_interrupt on going idle after it, 117:
      // docs/benchmarks.md, "Fork to its first exec"). So the warm-up idles as a parent does,
      // then passes through what a clone runs.
      if (agent.setsIdentity && m.exited === null) {
        await sleep(WARM_IDLE_MS);
        await agent.setIdentity({ epochMs: epochMs(), hostname: "pool-warm-up" });
        await sleep(WARM_IDLE_MS / 4);
        await exec(["true"]);
      }
      // A control server that cannot listen (a socket path too long) costs only its own warming.
      if (m.exited === null) await warmControl(composed, agent, control).catch(() => {});
      warm = m.exited === null;
    } catch {
      // an agent of another version, a guest that ended: warm as far as it went
    } finally {
      clearTimeout(timer);
      agent.close("warm-up done");
    }
    if (keep && warm) {
      const resume = await m.pause();
      if (m.exited === null)
        kept = {
          fits: (other, sbi) => warmKey(other, sbi) === warmKey(spec, snap.manifest.sbi),
          composed,
          resume,
          running,
          setConsole: (s) => (sink = s),
          written: m.ram.residentPages().written,
        };
      if (kept) swapBuffer();
      else resume();
    }
    if (!kept) {
      m.stop();
      await running;
    }
    return kept;
  } finally {
    if (!kept) m.close();
  }
}

/** Exec requests sent through the control server in the warm-up (warmControl). */
const WARM_HTTP_EXECS = 3;

/**
 * Run the control server's exec route (server.ts) a few times on a socket of its own: a VM
 * process's first exec request otherwise runs Node's HTTP server and the route cold, about 40 ms
 * of its CPU and 1.1 MB of young-generation allocation that brings its first scavenge into that
 * exec (docs/benchmarks.md, "Fork to its first exec, eighteenth session").
 */
async function warmControl(composed: Composed, agent: AgentChannel, path: string): Promise<void> {
  // The daemon refuses a VM without a balloon (daemon.ts), so such a VM has no route to warm.
  const balloon = composed.devices.find((d): d is ReleasingBalloon => d instanceof ReleasingBalloon);
  if (!balloon) return;
  const ctx: VmContext = {
    rec: { name: "pool-warm-up", pid: process.pid, cpus: 1, memory: 0, startedAt: Date.now() },
    machine: composed.machine,
    agent,
    balloon,
    devices: composed.devices,
    consoleListeners: new Set(),
    consoleTail: () => Buffer.alloc(0),
    state: () => "running",
    stop: () => {},
    snapshot: () => Promise.reject(new Error("no snapshot in a warm-up")),
  };
  const server = await serveControl(path, ctx);
  try {
    for (let i = 0; i < WARM_HTTP_EXECS; i++)
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { socketPath: path, method: "POST", path: ROUTES.exec, agent: false, headers: { "content-type": NDJSON } },
          (res) => {
            res.resume();
            res.on("end", resolve);
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(`${JSON.stringify({ argv: ["true"] })}\n`);
      });
  } finally {
    server.close();
    server.closeAllConnections();
    rmSync(path, { force: true });
  }
}

/**
 * What a pool process was given: the VM to become, and the taker's connection, which
 * `running(true)` answers once that VM runs (pool.ts TAKEN_REPLY; once, later calls do nothing).
 */
export interface Claimed {
  claim: PoolClaim;
  running(ok: boolean): void;
  /** The claim's first command's outcome (first-exec.ts), on the same connection, which it ends. */
  first(r: FirstExecResult): void;
}

/**
 * Wait on this pool process's socket until a restore takes it (pool.ts takeFromPool); resolves
 * with the VM to become. Ends the process after POOL_IDLE_MS, when the socket is removed (the
 * pool was stopped), or on SIGTERM.
 */
export function waitToBeTaken(id: string, home: string): Promise<Claimed> {
  const files = memberFiles(poolDir(home), id);
  const leave = (): never => {
    for (const p of Object.values(files)) rmSync(p, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", leave);
  process.on("SIGINT", leave);
  process.on("SIGHUP", () => {});
  return new Promise((resolve) => {
    const server = createServer((c) => {
      let got = "";
      c.on("data", (b: Buffer) => {
        got += b.toString("utf8");
        const nl = got.indexOf("\n");
        if (nl < 0) return;
        let claim: PoolClaim;
        try {
          claim = JSON.parse(got.slice(0, nl)) as PoolClaim;
        } catch {
          c.destroy();
          return;
        }
        const first = checkFirstExec(claim.first);
        if (first) claim.first = first;
        else delete claim.first;
        clearTimeout(idle);
        clearInterval(watch);
        server.close();
        process.off("SIGTERM", leave);
        process.off("SIGINT", leave);
        // Becomes the VM: its argv (what isVmProcess reads) now names it, its priority is a VM's.
        process.title = `${DAEMON_MARKER} ${claim.name}`;
        try {
          setPriority(0);
        } catch {
          // not root: stays as it was started
        }
        rmSync(files.record, { force: true });
        c.write(`${TAKEN_REPLY.taken}\n`);
        let answered = false;
        resolve({
          claim,
          running: (ok) => {
            if (answered) return;
            answered = true;
            const line = `${ok ? TAKEN_REPLY.running : TAKEN_REPLY.failed}\n`;
            // A first command's outcome follows on this connection (Claimed.first).
            if (ok && first) c.write(line);
            else c.end(line);
          },
          first: (r) => c.end(`${JSON.stringify(r)}\n`),
        });
      });
      c.on("error", () => {});
    });
    const idle = setTimeout(leave, POOL_IDLE_MS);
    // The pool was stopped (its files removed) while this process did not get the signal.
    const watch = setInterval(() => {
      if (!existsSync(files.record)) leave();
    }, 1000);
    server.listen(join(poolDir(home), `${id}.listening`), () => {
      // Ready once the socket has its final name: takeFromPool only looks for ID.sock.
      try {
        renameSync(join(poolDir(home), `${id}.listening`), files.socket);
      } catch {
        leave();
      }
    });
  });
}
