/**
 * Starting and stopping VM processes. A VM runs in its own detached process (its own session,
 * stdio to the console log) so it outlives the command that started it, and so the emulator,
 * which keeps its thread busy, never starves the caller's event loop.
 */
import { spawn } from "node:child_process";
import { openSync, closeSync, existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CorralError } from "../errors.js";
import { entryFile } from "../entry.js";
import { corralHome } from "../image/cache.js";
import { VmClient } from "./client.js";
import { checkDisks } from "../disk/open.js";
import { diskSpecOf } from "../devices/kinds/blk.js";
import { checkShares } from "../devices/virtio/fuse/share.js";
import type { DaemonConfig, RestoreConfig } from "./daemon.js";
import type { CheckedSnapshot } from "../snapshot/restore.js";
import type { VmSpec } from "./spec.js";
import {
  DAEMON_MARKER,
  vmProcessEnv,
  VM_FILES,
  checkName,
  claimName,
  isVmProcess,
  liveRecord,
  readRecord,
  recordExit,
  removeState,
  vmDir,
} from "./state.js";
import { VmError } from "./errors.js";
import { refillPool, takeFromPool } from "./pool.js";
import { epochMs } from "./phases.js";
import type { FirstExec, FirstExecResult } from "./first-exec.js";

export interface LaunchOptions {
  home?: string | undefined;
  /** Wait until the guest agent answers (default true); otherwise return once the socket serves. */
  waitForAgent?: boolean | undefined;
  bootTimeoutMs?: number | undefined;
  /**
   * Restore this snapshot (checked whole by checkSnapshot) instead of booting: the VM gets its own
   * disks (new overlays in its directory) made once its name is claimed.
   */
  restore?: (CheckedSnapshot & Omit<RestoreConfig, "dir">) | undefined;
  /**
   * A restore's first command, sent with a pool process's claim (first-exec.ts): `sent` gets its
   * outcome's promise when a pool process took it and its VM runs; otherwise it is not called and
   * the caller runs the command itself.
   */
  first?: { req: FirstExec; sent(result: Promise<FirstExecResult | undefined>): void } | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Node's flags for the VM process (docs/benchmarks.md, "Lean VMs", has the measurements). An idle
 * VM should cost the host little beyond its guest's pages:
 *  - --max-semi-space-size: V8's young generation grows to 2 x 16 MiB by default; the emulator
 *    allocates little per instruction, and 2 MiB semi-spaces keep 28 MB less resident;
 *  - --expose-gc: the daemon collects once after dropping the boot's code cache (daemon.ts).
 * CORRAL_VM_NODE_FLAGS replaces them (space-separated), for measuring.
 */
export const DAEMON_NODE_FLAGS = ["--max-semi-space-size=2", "--expose-gc"] as const;

export function daemonNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const own = env["CORRAL_VM_NODE_FLAGS"];
  return own !== undefined ? own.split(/\s+/).filter((f) => f !== "") : [...DAEMON_NODE_FLAGS];
}

export function randomName(): string {
  return `vm-${randomBytes(4).toString("hex")}`;
}

/** Start a VM process for `spec` (validated) and wait until it runs. Returns a client for it. */
export async function launchVm(spec: VmSpec, o: LaunchOptions = {}): Promise<VmClient> {
  const name = spec.name ?? randomName();
  checkName(name);
  const home = o.home ?? corralHome();
  // Every disk opens (format, record, lock) and every share is a directory before the VM exists:
  // a bad one leaves nothing behind.
  try {
    if (!o.restore) checkDisks(spec.devices.flatMap((d) => (d.kind === "blk" ? [diskSpecOf(d)] : [])));
    checkShares(spec.devices);
  } catch (e) {
    if (e instanceof CorralError)
      throw new CorralError(e.code, `VM '${name}' did not start: ${e.message}`, { cause: e, exitCode: e.exitCode });
    throw e;
  }
  claimName({ name, pid: 0, cpus: spec.harts, memory: spec.memory, startedAt: Date.now() }, home);
  const cfg: DaemonConfig = { home, spec: { ...spec, name } };
  if (o.restore) {
    const r = o.restore;
    try {
      const { restoreDevices } = await import("../snapshot/restore.js");
      cfg.spec.devices = restoreDevices(r, join(vmDir(name, home), "disks"));
    } catch (e) {
      rmSync(vmDir(name, home), { recursive: true, force: true });
      throw e;
    }
    cfg.restore = {
      dir: r.dir,
      ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
      ...(r.calledAt !== undefined ? { calledAt: r.calledAt } : {}),
      checkedAt: epochMs(),
    };
  }
  const logPath = join(vmDir(name, home), VM_FILES.log);
  const deadline = Date.now() + (o.bootTimeoutMs ?? 300_000);
  const client = new VmClient(name, home);
  // A restore takes a warm pool process when there is one (pool.ts), and refills the pool.
  const claim = { name, cfg, ...(o.first ? { first: o.first.req } : {}) };
  const taken = o.restore ? await takeFromPool(claim, home).catch(() => undefined) : undefined;
  const pid = taken?.pid ?? spawnDaemon(name, cfg, logPath);
  // Refilled while this VM restores, not on the way from "running" to the caller's first exec;
  // with a first command in the claim, once its outcome is in: spawning a pool process costs this
  // process 20 to 140 ms of its thread (fork and exec of a large process) and the new process's
  // start takes the cores the clones' first commands need (docs/benchmarks.md, "Fork to its first
  // exec, nineteenth session"); with several such takes under way (a fork's clones), once the
  // last outcome is in, so that no clone's answer waits behind the spawns. A caller that calls
  // process.exit before then leaves the pool short until the next take refills it.
  if (taken) {
    const refill = (): void => refillPool(daemonNodeFlags(), home);
    if (o.first) {
      firstPending.set(home, (firstPending.get(home) ?? 0) + 1);
      void taken.first.then(() => {
        const left = firstPending.get(home)! - 1;
        if (left > 0) firstPending.set(home, left);
        else {
          firstPending.delete(home);
          setImmediate(refill);
        }
      });
    } else refill();
    // The pool process says when the VM runs (pool.ts TAKEN_REPLY): no round trips to the control
    // socket of a process whose thread the guest shares. Otherwise the loop below finds out why.
    const timer = new Promise<false>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())).unref());
    const running = o.waitForAgent === false || (await Promise.race([taken.running, timer]));
    if (running && readRecord(name, home)?.pid === pid) {
      o.first?.sent(taken.first);
      return client;
    }
  }
  for (;;) {
    const rec = readRecord(name, home);
    const alive = isVmProcess(pid, name);
    if (!alive) {
      const why = lastError(logPath);
      // A start that failed leaves nothing behind (issue 14 item 7): the reason is in the error.
      if (!existsSync(join(vmDir(name, home), VM_FILES.exit)))
        rmSync(vmDir(name, home), { recursive: true, force: true });
      else removeState(name, home);
      throw new VmError("VM_START_FAILED", `VM '${name}' did not start: ${why}`);
    }
    if (rec && rec.pid === pid) {
      try {
        const info = await client.info();
        if (o.waitForAgent === false || info.state === "running") {
          // A pool process that took a first command runs it whichever way "running" was learnt.
          if (taken) o.first?.sent(taken.first);
          return client;
        }
      } catch {
        // the socket is not up yet
      }
    }
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL");
      while (!ended(pid)) await sleep(20);
      const last = lastLine(logPath);
      rmSync(vmDir(name, home), { recursive: true, force: true });
      throw new VmError(
        "VM_BOOT_TIMEOUT",
        `VM '${name}' did not finish booting in time${last ? `; its console's last line: ${last}` : ""}`,
      );
    }
    // A restore answers within milliseconds: look often.
    await sleep(o.restore ? 5 : 200);
  }
}

/** Takes by CORRAL_HOME whose first command's outcome is still to come (launchVm refills after the last). */
const firstPending = new Map<string, number>();

/** Start a new VM process for `cfg` (detached, its stdio the console log); returns its pid. */
function spawnDaemon(name: string, cfg: DaemonConfig, logPath: string): number {
  const log = openSync(logPath, "w");
  try {
    const script = fileURLToPath(
      entryFile(new URL("../../bundle/daemon.js", import.meta.url), new URL("./daemon.js", import.meta.url)),
    );
    const child = spawn(
      process.execPath,
      [...daemonNodeFlags(), script, DAEMON_MARKER, name, Buffer.from(JSON.stringify(cfg)).toString("base64")],
      {
        detached: true,
        stdio: ["ignore", log, log],
        env: vmProcessEnv(cfg.home),
      },
    );
    child.unref();
    if (child.pid === undefined) throw new VmError("VM_START_FAILED", `could not start the VM process for '${name}'`);
    return child.pid;
  } catch (e) {
    rmSync(vmDir(name, cfg.home), { recursive: true, force: true });
    throw e;
  } finally {
    closeSync(log);
  }
}

/** The process has ended (no longer exists, or a zombie waiting for its parent). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

function lastError(logPath: string): string {
  try {
    const lines = readFileSync(logPath, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("corral: "));
    const l = lines[lines.length - 1];
    if (l) return l.slice("corral: ".length);
  } catch {
    // no log
  }
  // The log goes with the failed VM's directory: say what it ended on.
  const last = lastLine(logPath);
  return last ? `its console's last line: ${last}` : "its process ended without a message";
}

/** The last non-empty line of the console log, without control characters. */
function lastLine(logPath: string): string | undefined {
  try {
    const lines = readFileSync(logPath, "latin1")
      .split(/\r?\n/)
      .map((l) => l.replace(/[\x00-\x1f\x7f-\xff]/g, "").trim())
      .filter((l) => l !== "");
    return lines[lines.length - 1]?.slice(0, 200);
  } catch {
    return undefined;
  }
}

/** How long a VM process has to end after SIGTERM before it is killed (SIGKILL). */
const TERM_GRACE_MS = 5_000;

/**
 * Power a VM off: graceful (the agent syncs and powers off), forced by the VM process after
 * `timeoutMs`, and if the process still lives a little later, SIGKILL and clean its state. A VM
 * that does not answer its control socket (a blocked or stopped process) gets SIGTERM at once and
 * SIGKILL after TERM_GRACE_MS: a wedged VM is always killed. Returns how it ended.
 */
export async function stopVm(
  name: string,
  opts: { home?: string | undefined; timeoutMs?: number } = {},
): Promise<"graceful" | "killed"> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const client = new VmClient(name, opts.home);
  const rec = client.record();
  let wait = timeoutMs + TERM_GRACE_MS;
  try {
    await client.requestStop(timeoutMs);
  } catch {
    // Not answering: the daemon's own SIGTERM handler stops the machine if its loop runs at all.
    signal(rec.pid, "SIGTERM");
    wait = TERM_GRACE_MS;
  }
  const deadline = Date.now() + wait;
  while (Date.now() < deadline) {
    if (!isVmProcess(rec.pid, name)) {
      // Its argv is gone once it is exiting; wait until it has ended.
      while (!ended(rec.pid)) await sleep(20);
      liveRecord(name, opts.home);
      return "graceful";
    }
    await sleep(100);
  }
  signal(rec.pid, "SIGKILL");
  while (isVmProcess(rec.pid, name)) await sleep(50);
  recordExit(rec, "killed", opts.home);
  removeState(name, opts.home);
  return "killed";
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
