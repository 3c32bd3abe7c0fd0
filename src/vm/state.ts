/**
 * Where a running VM lives on the host: $CORRAL_HOME/vms/<name>/ holds
 *   vm.json      the record (pid, sizes, start time); created with O_EXCL, so it is also the
 *                lock that makes names unique
 *   api.sock     the control socket (HTTP over a Unix socket, like Firecracker's API socket)
 *   console.log  everything the guest wrote on its serial console (kept after the VM ends)
 *   exit.json    how a VM that ran ended (its record and its end), written when it ends
 * A VM process removes vm.json and api.sock when it ends; after a crash (SIGKILL, OOM) they stay
 * behind and the next `ps`, `run` or API call that meets them finds the pid dead and removes them.
 * A VM that ended stays listed (`corral ps -a`) until `corral rm` removes its directory; a start
 * that fails removes the directory itself.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VM_NAME } from "./name.js";
import { corralHome } from "../image/cache.js";
import { VmError } from "./errors.js";

export interface VmRecord {
  name: string;
  pid: number;
  cpus: number;
  memory: number;
  /** ms since the epoch */
  startedAt: number;
}

export const VM_FILES = { record: "vm.json", socket: "api.sock", log: "console.log", exit: "exit.json" } as const;

/** How a VM that ran ended: its record, when, and how ("poweroff 0", "crashed", ...). */
export interface VmExit extends VmRecord {
  /** ms since the epoch */
  endedAt: number;
  /** "poweroff CODE", "stopped", "reset", "panic", "fault", "killed" or "crashed". */
  how: string;
}
/** The VM process's argv carries this marker, so a reused pid is not mistaken for a VM. */
export const DAEMON_MARKER = "corral-vm-daemon";

/**
 * The environment a VM or pool process starts with: the caller's, CORRAL_HOME set, without
 * NODE_EXTRA_CA_CERTS. Node reads and parses that bundle while it starts, before any of Corral
 * runs (about 40 ms a process on these machines, whose environment points it at the system's
 * 225 KB bundle: docs/benchmarks.md, "VM processes start without the extra CA bundle"), and a VM
 * process never opens a TLS connection of its own.
 */
export function vmProcessEnv(home: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _unused, ...rest } = env;
  return { ...rest, CORRAL_HOME: home };
}

export function vmsRoot(home = corralHome()): string {
  return join(home, "vms");
}
export function vmDir(name: string, home = corralHome()): string {
  return join(vmsRoot(home), name);
}

export function checkName(name: string): void {
  if (!VM_NAME.test(name)) {
    throw new VmError(
      "BAD_VM_NAME",
      `VM name '${name}' is not valid: use letters, digits, '_', '.', '-' (at most 63, starting with a letter or digit)`,
      { exitCode: 2 },
    );
  }
}

/** True when `pid` is a live Corral VM process for `name`. */
export function isVmProcess(pid: number, name: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    // A warm pool process that became this VM names it in its title (src/vm/pool-process.ts).
    return (argv.includes(DAEMON_MARKER) && argv.includes(name)) || argv[0] === `${DAEMON_MARKER} ${name}`;
  } catch {
    return false;
  }
}

export function readRecord(name: string, home?: string): VmRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(vmDir(name, home), VM_FILES.record), "utf8")) as VmRecord;
  } catch {
    return undefined;
  }
}

/** Remove what a VM that is no longer running left behind (the console log stays). */
export function removeState(name: string, home?: string): void {
  const dir = vmDir(name, home);
  rmSync(join(dir, VM_FILES.socket), { force: true });
  rmSync(join(dir, VM_FILES.record), { force: true });
}

/** Record how VM `rec` ended, unless its process already did. */
export function recordExit(rec: VmRecord, how: string, home?: string): void {
  const file = join(vmDir(rec.name, home), VM_FILES.exit);
  const exit: VmExit = { ...rec, endedAt: Date.now(), how };
  try {
    writeFileSync(file, JSON.stringify(exit) + "\n", { flag: "wx" });
  } catch {
    // written already (by the VM process, which knows best), or the directory is gone
  }
}

export function readExit(name: string, home?: string): VmExit | undefined {
  try {
    return JSON.parse(readFileSync(join(vmDir(name, home), VM_FILES.exit), "utf8")) as VmExit;
  } catch {
    return undefined;
  }
}

/** The record of a running VM; stale state of a dead one is removed and undefined returned. */
export function liveRecord(name: string, home?: string): VmRecord | undefined {
  const rec = readRecord(name, home);
  if (rec && isVmProcess(rec.pid, name)) return rec;
  if (existsSync(join(vmDir(name, home), VM_FILES.record))) {
    // A published record whose process died without cleaning up: it crashed (or was killed).
    if (rec && rec.pid !== 0) recordExit(rec, "crashed", home);
    removeState(name, home);
  }
  return undefined;
}

/**
 * Claim `name` for a new VM (O_EXCL on vm.json). The pid is filled in by `publish` once the VM
 * process exists; a claim whose process never appears is stale after STALE_CLAIM_MS.
 */
const STALE_CLAIM_MS = 120_000;
export function claimName(rec: VmRecord, home?: string): void {
  checkName(rec.name);
  const dir = vmDir(rec.name, home);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, VM_FILES.record);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(rec) + "\n", { flag: "wx" });
      // A VM of this name that ended before: this one replaces it (and its console log).
      rmSync(join(dir, VM_FILES.exit), { force: true });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const old = readRecord(rec.name, home);
      const claimedNoPid = old !== undefined && old.pid === 0 && Date.now() - old.startedAt < STALE_CLAIM_MS;
      if (claimedNoPid || (old && old.pid !== 0 && isVmProcess(old.pid, rec.name))) {
        throw new VmError(
          "VM_NAME_IN_USE",
          `a VM named '${rec.name}' is already running: pick another --name or 'corral stop ${rec.name}'`,
        );
      }
      removeState(rec.name, home);
    }
  }
  throw new VmError("VM_NAME_IN_USE", `could not claim the VM name '${rec.name}': another corral is starting it`);
}

export function publish(rec: VmRecord, home?: string): void {
  writeFileSync(join(vmDir(rec.name, home), VM_FILES.record), JSON.stringify(rec) + "\n");
}

/** The names of the VMs that have a directory, sorted. */
function vmNames(home?: string): string[] {
  try {
    return readdirSync(vmsRoot(home)).sort();
  } catch {
    return [];
  }
}

/** Running VMs; stale entries are cleaned on the way. */
export function listVms(home?: string): VmRecord[] {
  const out: VmRecord[] = [];
  for (const n of vmNames(home)) {
    const rec = readRecord(n, home);
    if (rec && rec.pid === 0 && Date.now() - rec.startedAt < STALE_CLAIM_MS) continue; // starting
    const live = liveRecord(n, home);
    if (live) out.push(live);
  }
  return out;
}

/** VMs that ran and ended (`corral ps -a`), by name; running ones are not among them. */
export function listEnded(home?: string): VmExit[] {
  const out: VmExit[] = [];
  for (const n of vmNames(home)) {
    // Running or starting (listVms, run first, has cleaned the records of crashed ones).
    if (existsSync(join(vmDir(n, home), VM_FILES.record))) continue;
    const e = readExit(n, home);
    if (e) out.push(e);
  }
  return out;
}

/** Whether VM `name` runs, is being started (its name claimed) or neither; changes nothing. */
export function vmActivity(name: string, home?: string): "running" | "starting" | "none" {
  const rec = readRecord(name, home);
  if (!rec) return "none";
  if (rec.pid === 0) return Date.now() - rec.startedAt < STALE_CLAIM_MS ? "starting" : "none";
  return isVmProcess(rec.pid, name) ? "running" : "none";
}

/**
 * Remove the directory of VM `name`, which must have ended (VM_RUNNING otherwise). A directory
 * without a record of its end is removed too: an older Corral's, or one whose start was cut short.
 */
export function removeVm(name: string, home?: string): void {
  checkName(name);
  const dir = vmDir(name, home);
  if (!existsSync(dir)) throw new VmError("VM_NOT_FOUND", `no VM named '${name}': 'corral ps -a' lists them all`);
  if (vmActivity(name, home) !== "none") {
    throw new VmError(
      "VM_RUNNING",
      `VM '${name}' is running: stop it first ('corral stop ${name}'), or use 'corral rm -f ${name}'`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

/** The record of running VM `name`, or VM_NOT_RUNNING. */
export function requireVm(name: string, home?: string): VmRecord {
  checkName(name);
  const rec = liveRecord(name, home);
  if (!rec) throw new VmError("VM_NOT_RUNNING", `no running VM named '${name}': 'corral ps' lists the running ones`);
  return rec;
}
