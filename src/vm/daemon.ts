/**
 * The VM process: `node dist/src/vm/daemon.js corral-vm-daemon <name> <config>` (started by
 * launch.ts, detached in its own session). It validates the VM's spec again, builds the VM
 * through the one composition step (compose.ts), talks to the guest agent on the agent port of
 * its virtio-console, drives its balloon, serves the control socket (server.ts) and cleans its
 * state up however the guest ends.
 */
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { CorralError, isCorralError } from "../errors.js";
import type { Machine, MachineExit } from "../machine/machine.js";
import { VirtioConsole } from "../devices/virtio/console.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { AgentChannel } from "./agent/channel.js";
import { VmGenId } from "../devices/vmgenid.js";
import { ConsoleLog } from "./console-log.js";
import { ReleasingBalloon } from "./madvise.js";
import { trimMallocHeap } from "../sys/mem.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { corralHome } from "../image/cache.js";
import { memberFiles, poolDir, POOL_ARG } from "./pool.js";
import { DAEMON_MARKER, VM_FILES, publish, recordExit, removeState, vmDir, type VmRecord } from "./state.js";
import { serveControl } from "./server.js";
import { composeVm, type Composed } from "./compose.js";
import type { WarmMachine } from "./pool-process.js";
import { runFirstExec, type FirstExec, type FirstExecResult } from "./first-exec.js";
import { swapRam } from "../snapshot/swap.js";
import { parseVmSpec, type VmSpec } from "./spec.js";
import { VmError } from "./errors.js";
import { epochMs, LATER_FORK_NOTE, Phases } from "./phases.js";
import type { SnapshotOptions } from "../snapshot/write.js";
import type { Manifest } from "../snapshot/format.js";
import type { SavedState } from "../snapshot/state.js";

export interface DaemonConfig {
  home: string;
  /** The VM's spec as launch.ts validated it, with its name; validated here again. */
  spec: VmSpec & { name: string };
  /** Restore this snapshot instead of booting (src/snapshot/restore.ts); its disks are already in `spec`. */
  restore?: RestoreConfig;
}

export interface RestoreConfig {
  dir: string;
  /**
   * A fork's clone: a new VM generation ID (src/devices/vmgenid.ts) and this hostname, set
   * through the agent before the VM counts as running.
   */
  hostname?: string;
  /** When the restore was called and when its caller handed over (epoch ms, src/vm/phases.ts). */
  calledAt?: number;
  checkedAt?: number;
}

export interface VmContext {
  rec: VmRecord;
  machine: Machine;
  agent: AgentChannel;
  balloon: ReleasingBalloon;
  /** Every device of the VM, in the spec's order (the /limits route finds disks and NICs here). */
  devices: readonly VirtioDevice[];
  /** Guest console bytes go to these listeners too. */
  consoleListeners: Set<(b: Uint8Array) => void>;
  /** The last console bytes, replayed to a console that attaches. */
  consoleTail(): Buffer;
  state(): "booting" | "running" | "stopping";
  /** Graceful power-off through the agent, forced after `timeoutMs`. */
  stop(timeoutMs: number): void;
  /** Take a snapshot into `dir` (src/snapshot/write.ts); the VM runs on. */
  snapshot(dir: string, o?: SnapshotOptions): Promise<Manifest>;
}

const TAIL = 8192;

/**
 * A full collection, when the VM process runs with --expose-gc (launch.ts DAEMON_NODE_FLAGS),
 * then the C heap's free pages back to the kernel: the blocks' typed arrays live there.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
  trimMallocHeap();
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === DAEMON_MARKER && argv[1] === POOL_ARG && argv[2] !== undefined) {
    // A warm pool process (pool.ts): warm up, wait to be taken, then run as the VM it is given.
    const home = process.env["CORRAL_HOME"] ?? corralHome();
    const { warmUp, waitToBeTaken } = await import("./pool-process.js");
    const control = memberFiles(poolDir(home), argv[2]).warm;
    const warm = argv[3] ? await warmUp(argv[3], home, control).catch(() => undefined) : undefined;
    collectGarbage();
    const taken = await waitToBeTaken(argv[2], home);
    const first = taken.claim.first;
    return runVm(
      taken.claim.name,
      taken.claim.cfg,
      warm,
      taken.running,
      first ? { req: first, answer: taken.first } : undefined,
    );
  }
  if (argv[0] !== DAEMON_MARKER || argv[2] === undefined)
    throw new Error("usage: daemon.js corral-vm-daemon NAME CONFIG");
  const cfg = JSON.parse(Buffer.from(argv[2], "base64").toString("utf8")) as DaemonConfig;
  return runVm(argv[1]!, cfg);
}

/**
 * Run the VM `name` of `cfg` in this process until it ends; then the process exits. `onRunning`
 * (a pool process's taker, pool.ts) hears once whether the VM got to "running"; `first`, the
 * claim's first command, is sent to the agent at that moment and its outcome answered
 * (first-exec.ts).
 */
async function runVm(
  name: string,
  cfg: DaemonConfig,
  warm?: WarmMachine,
  onRunning: (ok: boolean) => void = () => {},
  first?: { req: FirstExec; answer: (r: FirstExecResult) => void },
): Promise<void> {
  const phases = new Phases(cfg.restore?.calledAt ?? epochMs());
  if (cfg.restore?.checkedAt !== undefined) phases.mark("checked", cfg.restore.checkedAt);
  phases.mark("taken");
  const dir = vmDir(name, cfg.home);
  const log = new ConsoleLog(join(dir, VM_FILES.log));
  let tail = Buffer.alloc(0);
  const listeners = new Set<(b: Uint8Array) => void>();
  const onConsole = (b: Uint8Array): void => {
    log.write(b);
    tail = Buffer.concat([tail, b]).subarray(-TAIL);
    for (const l of listeners) l(b);
  };

  let machine: Machine | undefined;
  let cleanup = (): void => removeState(name, cfg.home);
  process.on("exit", () => cleanup());
  try {
    const spec = parseVmSpec({ ...cfg.spec, name });
    const rec: VmRecord = { name, pid: process.pid, cpus: spec.harts, memory: spec.memory, startedAt: Date.now() };
    const restoring = cfg.restore ? await import("../snapshot/restore.js") : undefined;
    let ramFd: number | undefined;
    let overlayFd: number | undefined;
    let sbi = true;
    if (cfg.restore) {
      const { readManifest, checkPart, SNAPSHOT_FILES } = await import("../snapshot/format.js");
      const manifest = readManifest(cfg.restore.dir);
      checkPart(cfg.restore.dir, manifest.state);
      sbi = manifest.sbi;
      ramFd = openSync(join(cfg.restore.dir, SNAPSHOT_FILES.ram), "r");
      // A later fork's pages written since its first (src/snapshot/write.ts), laid over RAM's.
      if (manifest.ramOverlay) overlayFd = openSync(join(cfg.restore.dir, manifest.ramOverlay.name), "r");
      phases.mark("snapshot read");
    }
    let composed: Composed;
    // A pool process's warm machine of the same spec takes the snapshot's RAM (its code cache
    // kept where the code is the same, src/snapshot/swap.ts); otherwise a new machine is built.
    const onWarm = warm !== undefined && ramFd !== undefined && warm.fits(spec, sbi) ? warm : undefined;
    try {
      if (onWarm && ramFd !== undefined) {
        const swapped = swapRam(onWarm.composed.machine, ramFd, onWarm.written, overlayFd);
        onWarm.setConsole(onConsole);
        composed = onWarm.composed;
        phases.mark(
          `RAM swapped into the warm machine (${swapped.dropped} of ${swapped.codePages} code pages changed; compared in ${swapped.compareMs.toFixed(1)} ms; map ${swapped.mapMs.toFixed(1)} ms; ${swapped.populated} of ${swapped.written} written pages faulted in ${swapped.populateMs.toFixed(1)} ms)`,
        );
      } else {
        if (warm) await dropWarm(warm);
        composed = await composeVm(spec, {
          console: onConsole,
          home: cfg.home,
          imageLog: log,
          ...(ramFd !== undefined ? { restore: { ramFile: ramFd, ramOverlay: overlayFd, sbi } } : {}),
        });
      }
    } finally {
      // The mapping holds the file from here on.
      for (const f of [ramFd, overlayFd]) if (f !== undefined) closeSync(f);
    }
    const m = composed.machine;
    machine = m;
    phases.mark("machine built");
    const port = composed.devices
      .flatMap((d) => (d instanceof VirtioConsole ? [d.port(AGENT_PORT_NAME)] : []))
      .find((p) => p !== undefined);
    const balloon = composed.devices.find((d): d is ReleasingBalloon => d instanceof ReleasingBalloon);
    if (!port || !balloon)
      throw new VmError(
        "VM_DEVICES",
        `VM '${name}' needs a virtio-console with the port ${AGENT_PORT_NAME} and a balloon among its devices`,
      );
    const agent = new AgentChannel(port, name);
    // An exec's end reaches the caller at once, not after the guest's next idle (machine.ts).
    agent.onAnswer = () => m.serveHost();
    let reidentify = "";
    if (cfg.restore && restoring) {
      const host = restoring.restoreMachine(m, restoring.readState(cfg.restore.dir));
      const a = host["agent"] as { ready: boolean; version: number | null; nextId: number } | undefined;
      if (a) agent.restoreState(a);
      if (cfg.restore.hostname !== undefined)
        for (const d of m.bus.devices()) if (d instanceof VmGenId) d.newGeneration();
      // A later fork's clone says so: its RAM is the file the parent's first fork froze, with the
      // pages written since laid over it (tests/vm/fork.test.ts reads this).
      const later = overlayFd !== undefined ? ` (${LATER_FORK_NOTE})` : "";
      log.write(`\r\ncorral: VM '${name}' restored from ${cfg.restore.dir}${later}\r\n`);
      // Only NICs change identity (a clone's new MACs): without one there is nothing to read.
      if (spec.devices.some((d) => d.kind === "net"))
        reidentify = await cloneIdentity(cfg.restore.dir, composed.devices, log);
      phases.mark("state restored");
      // The first exec answered after the restore: log where the time went.
      agent.onExec = (event) => {
        phases.mark(`first exec ${event}`);
        if (event !== "ended") return;
        agent.onExec = undefined;
        log.write(`${[phases.line(), ...phases.usageLines()].join("\r\n")}\r\n`);
      };
    }
    let stopping = false;
    // A clone counts as running once it has its own hostname (resync below).
    let identity = cfg.restore?.hostname === undefined;
    let identitySet = (): void => {};
    const identityDone = identity ? Promise.resolve() : new Promise<void>((r) => (identitySet = r));
    const ctx: VmContext = {
      rec,
      machine: m,
      agent,
      balloon,
      devices: composed.devices,
      consoleListeners: listeners,
      consoleTail: () => tail,
      state: () => (stopping ? "stopping" : agent.ready && identity ? "running" : "booting"),
      stop: (timeoutMs) => {
        stopping = true;
        if (agent.ready) agent.shutdown();
        else m.stop();
        setTimeout(() => m.stop(), timeoutMs).unref();
      },
      snapshot: async (to, o) => {
        const { takeSnapshot } = await import("../snapshot/write.js");
        return takeSnapshot(
          {
            name,
            spec,
            machine: m,
            devices: composed.devices,
            host: (): SavedState => ({ agent: agent.saveState() }),
            diskDir: join(dir, "disks"),
          },
          to,
          o,
        );
      },
    };
    const server = await serveControl(join(dir, VM_FILES.socket), ctx);
    publish(rec, cfg.home);
    phases.mark("serving");
    // The taker learns "running" here, the moment state() says it, without asking the socket.
    // A first command goes out behind the T frame (resync: the agent handles frames in order).
    void Promise.all([agent.whenReady(), identityDone]).then(() => {
      if (first && !stopping) void runFirstExec(agent, first.req).then(first.answer);
      onRunning(!stopping);
    });
    // Booted: the blocks the boot built are mostly dead weight now (CodeCache.trim), and the
    // heap they held goes back to the system at once instead of when V8 next feels the need.
    // A restore has no boot behind it: its agent is ready at once, and a trim and a full
    // collection then would only throw away the blocks its first exec is building.
    if (!cfg.restore)
      void agent
        .whenReady()
        .then(() => m.trimCode())
        .then(() => collectGarbage());
    const closeAll = (): void => {
      server.close();
      server.closeAllConnections();
      agent.close(`VM '${name}' stopped`);
      removeState(name, cfg.home);
    };
    cleanup = closeAll;
    process.on("SIGTERM", () => m.stop("SIGTERM"));
    process.on("SIGINT", () => m.stop("SIGINT"));
    process.on("SIGHUP", () => {});
    let running: Promise<MachineExit>;
    if (onWarm) {
      onWarm.resume();
      running = onWarm.running;
    } else running = m.run();
    if (cfg.restore)
      resync(agent, cfg.restore.hostname, log, reidentify, {
        ordered: () => {
          identity = true;
          identitySet();
        },
        done: () => phases.mark("clock set"),
      });
    const exit = await running;
    log.write(
      `\r\ncorral: VM '${name}' ended: ${exit.kind}${exit.kind === "stopped" && exit.signal ? ` by ${exit.signal}` : ""}${"message" in exit ? ` ${exit.message.split("\n")[0]}` : ""}\n`,
    );
    recordExit(rec, exit.kind === "poweroff" ? `poweroff ${exit.code}` : exit.kind, cfg.home);
    closeAll();
  } catch (e) {
    log.write(`\ncorral: ${isCorralError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    onRunning(false);
    machine?.close();
    cleanup();
    log.close();
  }
  // Timers of finished requests must not keep a stopped VM's process alive.
  process.exit();
}

/** A warm machine that does not fit the VM a pool process became: stopped and closed. */
async function dropWarm(w: WarmMachine): Promise<void> {
  w.composed.machine.stop();
  w.resume();
  await w.running;
  w.composed.machine.close();
}

/**
 * After a restore: the guest's wall clock still reads the snapshot's time (its kernel keeps it
 * from the clock that went on from there): set it to the host's; a fork's clone also takes its
 * new hostname. The agent sets both itself (its T frame, protocol 5: no guest process, so the
 * first exec does not queue behind two cold ones); an agent of version 4 gets `date -s` and
 * `hostname` run as a command. A clone whose NICs took new MACs runs `reidentify` after. Once;
 * a failure is logged, the VM runs on.
 *
 * `ordered` is called once every exec sent from then on runs with the clock and hostname set:
 * for a T frame, as soon as it is sent. The agent reads its port in order and handles each
 * frame before the next (one loop, native/corral-agent.c `parse`, `on_line`), and `set_identity`
 * sets both synchronously in its T branch, so an X frame that follows a T frame starts its
 * command only after clock_settime and sethostname returned. Waiting for the T frame's answer
 * before a clone counts as running put the guest's whole round trip (its wake-up from idle, the
 * new VM generation's reseed, the answer through the virtqueue: 45 ms of a first fork's 258 on
 * a quiet machine, docs/benchmarks.md "Fork in 100 ms") in front of the caller's first exec; now
 * the guest does that while the caller's exec is on its way. Commands (an agent of version 4, a
 * clone's new MACs) are separate guest processes that run beside later execs: those are waited
 * for. `done` is called once the guest answered (the "clock set" phase).
 */
function resync(
  agent: AgentChannel,
  hostname: string | undefined,
  log: ConsoleLog,
  reidentify: string,
  on: { ordered: () => void; done: () => void },
): void {
  const failed = (why: string): void =>
    log.write(`\r\ncorral: setting the restored guest's clock or hostname failed (${why})\r\n`);
  const run = async (script: string): Promise<void> => {
    const r = await agent.exec({ argv: ["sh", "-c", script], timeoutMs: 30_000 }, () => {}).done;
    if (r.exitCode !== 0) failed(String(r.exitCode));
  };
  const steps = async (): Promise<void> => {
    if (agent.setsIdentity) {
      const set = agent.setIdentity({ epochMs: epochMs(), hostname }).catch((e: unknown) => failed(String(e)));
      if (reidentify === "") on.ordered();
      await set;
      if (reidentify !== "") await run(`true${reidentify}`);
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    await run(`date -s @${now} >/dev/null${hostname !== undefined ? ` && hostname ${hostname}` : ""}${reidentify}`);
  };
  // An agent of another version (AGENT_VERSION from exec): nothing to set it with.
  const finish = (): void => {
    on.ordered();
    on.done();
  };
  steps().then(finish, finish);
}

/**
 * A fork's clone whose NICs took new MACs (src/snapshot/clone-net.ts): frames from the old ones
 * stay in, the log says each NIC's new MAC (and TAP), and the script its guest runs to take them.
 */
async function cloneIdentity(dir: string, devices: readonly VirtioDevice[], log: ConsoleLog): Promise<string> {
  const { readManifest } = await import("../snapshot/format.js");
  const { macChanges, reidentifyScript } = await import("../snapshot/clone-net.js");
  const changes = macChanges(parseVmSpec(readManifest(dir).spec).devices, devices);
  for (const c of changes) {
    c.nic.blockSource(c.from);
    const tap = c.nic.hostIfname !== undefined ? ` on TAP ${c.nic.hostIfname}` : "";
    log.write(`corral: ${c.nic.name} takes the MAC ${c.to} (was ${c.from})${tap}\r\n`);
  }
  return reidentifyScript(changes);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`corral: ${e instanceof CorralError ? e.message : String(e)}\n`);
  process.exit(1);
});
