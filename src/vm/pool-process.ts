/**
 * The waiting side of a warm VM process (pool.ts): warm up, then wait on the process's socket
 * until a restore takes it, and hand its config to daemon.ts, which runs the VM as any VM
 * process does.
 *
 * Warming up: what makes a restored VM's first exec slow in a new process is mostly V8, not the
 * guest: the emulator's own functions (the interpreter, the block builder, the MMU, the wasm
 * tier's code generator) start in V8's interpreter and are optimized only once hot, and the heap
 * grows in many small collections. Measured in one process (docs/benchmarks.md, "Restore from a
 * warm process"): the first `exec true` of a restore took 1350 ms of CPU in a new process and
 * 420 ms in one that had restored a snapshot before. So the pool process restores the snapshot
 * it was given into a machine of its own, runs what a restore runs (the clock and hostname
 * script, `true`), and throws the machine away. The throwaway machine has a user-mode NIC
 * without port forwards in place of any NIC (it must not take the host's ports or a switch's
 * port) and no disks (a snapshot with disks is not warmed up on).
 */
import { closeSync, existsSync, openSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setPriority } from "node:os";
import { VirtioConsole } from "../devices/virtio/console.js";
import { AgentChannel } from "./agent/channel.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { composeVm } from "./compose.js";
import { memberFiles, poolDir, POOL_IDLE_MS, type PoolClaim } from "./pool.js";
import { parseVmSpec, type VmSpec } from "./spec.js";
import { DAEMON_MARKER } from "./state.js";
import { checkSnapshot, readState, restoreMachine } from "../snapshot/restore.js";
import { SNAPSHOT_FILES } from "../snapshot/format.js";

/** Longest a warm-up may take; a guest that does not answer by then is dropped unwarmed. */
const WARM_TIMEOUT_MS = 60_000;
/** Execs run in the throwaway machine. */
const WARM_EXECS = 3;

/** Restore `dir` into a machine of this process, run a few execs in it, and drop it. */
export async function warmUp(dir: string, home: string): Promise<void> {
  const snap = checkSnapshot(dir, { trustRam: true });
  if (snap.manifest.disks.length > 0) return;
  const devices: VmSpec["devices"] = snap.spec.devices.map((d) =>
    d.kind === "net" ? { kind: "net", backend: { type: "user" }, ...(d.mac !== undefined ? { mac: d.mac } : {}) } : d,
  );
  const spec = parseVmSpec({ ...snap.spec, name: "pool-warm-up", devices });
  const fd = openSync(join(snap.dir, SNAPSHOT_FILES.ram), "r");
  let composed;
  try {
    composed = await composeVm(spec, { console: () => {}, home, restore: { ramFile: fd, sbi: snap.manifest.sbi } });
  } finally {
    closeSync(fd);
  }
  const m = composed.machine;
  try {
    const port = composed.devices
      .flatMap((d) => (d instanceof VirtioConsole ? [d.port(AGENT_PORT_NAME)] : []))
      .find((p) => p !== undefined);
    if (!port) return;
    const agent = new AgentChannel(port, spec.name ?? "pool-warm-up");
    const host = restoreMachine(m, readState(snap.dir));
    const a = host["agent"] as { ready: boolean; version: number | null; nextId: number } | undefined;
    if (a) agent.restoreState(a);
    const running = m.run();
    const timer = setTimeout(() => m.stop(), WARM_TIMEOUT_MS);
    try {
      const script = `date -s @${Math.floor(Date.now() / 1000)} >/dev/null && hostname pool-warm-up`;
      for (let i = 0; i < WARM_EXECS && m.exited === null; i++)
        await agent.exec({ argv: i === 0 ? ["sh", "-c", script] : ["true"], timeoutMs: WARM_TIMEOUT_MS }, () => {})
          .done;
    } catch {
      // an agent of another version, a guest that ended: warm as far as it went
    } finally {
      clearTimeout(timer);
      agent.close("warm-up done");
      m.stop();
      await running;
    }
  } finally {
    m.close();
  }
}

/**
 * Wait on this pool process's socket until a restore takes it (pool.ts takeFromPool); resolves
 * with the VM to become. Ends the process after POOL_IDLE_MS, when the socket is removed (the
 * pool was stopped), or on SIGTERM.
 */
export function waitToBeTaken(id: string, home: string): Promise<PoolClaim> {
  const files = memberFiles(poolDir(home), id);
  const leave = (): never => {
    for (const p of [files.socket, files.record]) rmSync(p, { force: true });
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
        c.end("ok\n");
        resolve(claim);
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
