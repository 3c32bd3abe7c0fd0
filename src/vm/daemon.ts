/**
 * The VM process: `node dist/src/vm/daemon.js corral-vm-daemon <name> <config>` (started by
 * launch.ts, detached in its own session). It validates the VM's spec again, builds the VM
 * through the one composition step (compose.ts), talks to the guest agent on the agent port of
 * its virtio-console, drives its balloon, serves the control socket (server.ts) and cleans its
 * state up however the guest ends.
 */
import { join } from "node:path";
import { CorralError, isCorralError } from "../errors.js";
import type { Machine } from "../machine/machine.js";
import { VirtioConsole } from "../devices/virtio/console.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { AgentChannel } from "./agent/channel.js";
import { ConsoleLog } from "./console-log.js";
import { ReleasingBalloon } from "./madvise.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { DAEMON_MARKER, VM_FILES, publish, recordExit, removeState, vmDir, type VmRecord } from "./state.js";
import { serveControl } from "./server.js";
import { composeVm } from "./compose.js";
import { parseVmSpec, type VmSpec } from "./spec.js";

export interface DaemonConfig {
  home: string;
  /** The VM's spec as launch.ts validated it, with its name; validated here again. */
  spec: VmSpec & { name: string };
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
}

const TAIL = 8192;

async function main(argv: string[]): Promise<void> {
  if (argv[0] !== DAEMON_MARKER || argv[2] === undefined)
    throw new Error("usage: daemon.js corral-vm-daemon NAME CONFIG");
  const cfg = JSON.parse(Buffer.from(argv[2], "base64").toString("utf8")) as DaemonConfig;
  const name = argv[1]!;
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
    const composed = await composeVm(spec, { console: onConsole, home: cfg.home, imageLog: log });
    const m = composed.machine;
    machine = m;
    const port = composed.devices
      .flatMap((d) => (d instanceof VirtioConsole ? [d.port(AGENT_PORT_NAME)] : []))
      .find((p) => p !== undefined);
    const balloon = composed.devices.find((d): d is ReleasingBalloon => d instanceof ReleasingBalloon);
    if (!port || !balloon)
      throw new CorralError(
        "VM_DEVICES",
        `VM '${name}' needs a virtio-console with the port ${AGENT_PORT_NAME} and a balloon among its devices`,
      );
    const agent = new AgentChannel(port, name);
    let stopping = false;
    const ctx: VmContext = {
      rec,
      machine: m,
      agent,
      balloon,
      devices: composed.devices,
      consoleListeners: listeners,
      consoleTail: () => tail,
      state: () => (stopping ? "stopping" : agent.ready ? "running" : "booting"),
      stop: (timeoutMs) => {
        stopping = true;
        if (agent.ready) agent.shutdown();
        else m.stop();
        setTimeout(() => m.stop(), timeoutMs).unref();
      },
    };
    const server = await serveControl(join(dir, VM_FILES.socket), ctx);
    publish(rec, cfg.home);
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
    const exit = await m.run();
    log.write(
      `\r\ncorral: VM '${name}' ended: ${exit.kind}${exit.kind === "stopped" && exit.signal ? ` by ${exit.signal}` : ""}${"message" in exit ? ` ${exit.message.split("\n")[0]}` : ""}\n`,
    );
    recordExit(rec, exit.kind === "poweroff" ? `poweroff ${exit.code}` : exit.kind, cfg.home);
    closeAll();
  } catch (e) {
    log.write(`\ncorral: ${isCorralError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    machine?.close();
    cleanup();
    log.close();
  }
  // Timers of finished requests must not keep a stopped VM's process alive.
  process.exit();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`corral: ${e instanceof CorralError ? e.message : String(e)}\n`);
  process.exit(1);
});
