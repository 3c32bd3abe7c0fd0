/**
 * The VM process: `node dist/src/vm/daemon.js corral-vm-daemon <name> <config>` (started by
 * launch.ts, detached in its own session). It boots the guest with a virtio-console whose named
 * port carries the guest agent, a virtio-balloon that returns memory to the host, and the disks;
 * it serves the control socket (server.ts) and cleans its state up however the guest ends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CorralError, isCorralError } from "../errors.js";
import { buildMachine, type GuestConsole, type NamedBlob } from "../machine/builder.js";
import type { Machine } from "../machine/machine.js";
import { ensureDefaultImage } from "../image/pull.js";
import { VirtioBlk } from "../devices/virtio/blk.js";
import { VirtioConsole } from "../devices/virtio/console.js";
import { VirtioRng } from "../devices/virtio/rng.js";
import { openDisk, parseDiskSpec } from "../devices/virtio/disk-open.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { defaultCmdline } from "../api/guest-command.js";
import { openNets, withNetCmdline } from "../net/attach.js";
import { openVsock, type VsockSpec } from "../net/vsock-attach.js";
import { AgentChannel } from "./agent/channel.js";
import { ConsoleLog } from "./console-log.js";
import { ReleasingBalloon } from "./madvise.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { DAEMON_MARKER, VM_FILES, publish, recordExit, removeState, vmDir, type VmRecord } from "./state.js";
import { serveControl } from "./server.js";

export interface DaemonConfig {
  name: string;
  home: string;
  memory: number;
  cpus: number;
  disks: string[];
  /** --net specs (see net/attach.ts). */
  nets: string[];
  /** --vsock: the VM's Unix socket for host programs (closed when the VM stops). */
  vsock?: VsockSpec;
  /** The guest's console device (default ttyS0): hvc0 is port 0 of the agent's virtio-console. */
  console?: GuestConsole;
  kernel?: string;
  initrd?: string;
  append?: string;
}

export interface VmContext {
  rec: VmRecord;
  machine: Machine;
  agent: AgentChannel;
  balloon: ReleasingBalloon;
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
  if (argv[0] !== DAEMON_MARKER || argv[2] === undefined) throw new Error("usage: daemon.js corral-vm-daemon NAME CONFIG");
  const cfg = JSON.parse(Buffer.from(argv[2], "base64").toString("utf8")) as DaemonConfig;
  const dir = vmDir(cfg.name, cfg.home);
  const log = new ConsoleLog(join(dir, VM_FILES.log));
  let tail = Buffer.alloc(0);
  const listeners = new Set<(b: Uint8Array) => void>();
  const onConsole = (b: Uint8Array): void => {
    log.write(b);
    tail = Buffer.concat([tail, b]).subarray(-TAIL);
    for (const l of listeners) l(b);
  };

  const rec: VmRecord = { name: cfg.name, pid: process.pid, cpus: cfg.cpus, memory: cfg.memory, startedAt: Date.now() };
  let machine: Machine | undefined;
  const devices: VirtioDevice[] = [];
  let cleanup = (): void => removeState(cfg.name, cfg.home);
  process.on("exit", () => cleanup());
  try {
    let kernel: NamedBlob;
    let initrd: NamedBlob | undefined;
    if (cfg.kernel) {
      kernel = { name: cfg.kernel, data: new Uint8Array(readFileSync(cfg.kernel)) };
      if (cfg.initrd) initrd = { name: cfg.initrd, data: new Uint8Array(readFileSync(cfg.initrd)) };
    } else {
      const img = await ensureDefaultImage({ out: log });
      kernel = { name: img.kernel, data: new Uint8Array(readFileSync(img.kernel)) };
      initrd = { name: img.initramfs, data: new Uint8Array(readFileSync(cfg.initrd ?? img.initramfs)) };
    }
    for (const [i, spec] of cfg.disks.entries()) devices.push(new VirtioBlk({ disk: openDisk(parseDiskSpec(spec)), name: `vd${String.fromCharCode(97 + i)}` }));
    const nets = await openNets(cfg.nets, cfg.home);
    devices.push(...nets.devices);
    if (cfg.vsock) devices.push(await openVsock(cfg.vsock));
    const con = new VirtioConsole({ name: "agent0", ports: [{ name: AGENT_PORT_NAME }] });
    const balloon = new ReleasingBalloon();
    // virtio-rng: host entropy for the guest's /dev/hwrng (virtio 1.2 section 5.4).
    devices.push(con, balloon, new VirtioRng());
    const m = buildMachine({
      memory: cfg.memory,
      cpus: cfg.cpus,
      kernel,
      initrd,
      cmdline: withNetCmdline(cfg.append ?? defaultCmdline(cfg.console), nets.cmdline),
      console: onConsole,
      consoleDevice: cfg.console,
      virtio: devices,
    });
    machine = m;
    const agent = new AgentChannel(con.port(AGENT_PORT_NAME)!, cfg.name);
    let stopping = false;
    const ctx: VmContext = {
      rec,
      machine: m,
      agent,
      balloon,
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
      agent.close(`VM '${cfg.name}' stopped`);
      removeState(cfg.name, cfg.home);
    };
    cleanup = closeAll;
    process.on("SIGTERM", () => m.stop("SIGTERM"));
    process.on("SIGINT", () => m.stop("SIGINT"));
    process.on("SIGHUP", () => {});
    const exit = await m.run();
    log.write(`\r\ncorral: VM '${cfg.name}' ended: ${exit.kind}${exit.kind === "stopped" && exit.signal ? ` by ${exit.signal}` : ""}${"message" in exit ? ` ${exit.message.split("\n")[0]}` : ""}\n`);
    recordExit(rec, exit.kind === "poweroff" ? `poweroff ${exit.code}` : exit.kind, cfg.home);
    closeAll();
  } catch (e) {
    log.write(`\ncorral: ${isCorralError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    machine?.close();
    if (!machine) for (const d of devices) d.close();
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
