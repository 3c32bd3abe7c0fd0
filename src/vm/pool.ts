/**
 * Warm VM processes (issue 16 item 6: restore and fork in milliseconds): a small pool of VM
 * processes started ahead of time, per $CORRAL_HOME, each with Node started, every module of the
 * VM process loaded and, given a snapshot to warm up on, the emulator's own JavaScript compiled
 * and optimized by V8 (pool-process.ts restores that snapshot into a machine it throws away and
 * runs a few execs in it). A restore (`corral restore`, a fork's clones) takes one of them
 * instead of starting a new process: it sends the VM's config over the process's socket and
 * the process becomes that VM (daemon.ts), then a replacement is started, so the pool keeps its
 * size. Without a pool, or with every pool process taken, a restore starts its own process as
 * before.
 *
 * Files, in $CORRAL_HOME/pool/: `pool.json` (the size and the warm-up snapshot; `corral pool
 * stop` removes it first, so nothing refills the pool), and per process `ID.json` (its pid) and,
 * once it is warm and waits, its socket `ID.sock`. Taking a process renames its socket (one
 * rename wins: two restores never get one process). A pool process ends by itself after
 * POOL_IDLE_MS without being taken, when its socket is removed, or on SIGTERM.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { setPriority } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { corralHome } from "../image/cache.js";
import { entryFile } from "../entry.js";
import { VmError } from "./errors.js";
import { DAEMON_MARKER, vmProcessEnv } from "./state.js";
import type { DaemonConfig } from "./daemon.js";
import type { FirstExec, FirstExecResult } from "./first-exec.js";

/** argv[1] of a pool process (after DAEMON_MARKER): `daemon.js corral-vm-daemon --pool ID`. */
export const POOL_ARG = "--pool";
/** Most processes a pool holds. */
export const MAX_POOL = 16;
/** A pool process not taken within this time ends (re-started by the next `corral pool start`). */
export const POOL_IDLE_MS = 30 * 60_000;
/**
 * A waiting pool process runs at this nice value (root only: lowering it back when it is taken
 * needs CAP_SYS_NICE), so its start and warm-up yield to running VMs.
 */
export const POOL_NICE = 10;

export interface PoolConfig {
  size: number;
  /** A snapshot directory to warm up on (pool-process.ts), or none: modules loaded only. */
  warm?: string | undefined;
}

export interface PoolMember {
  id: string;
  pid: number;
  /** Warm and waiting to be taken. */
  ready: boolean;
}

export const poolDir = (home?: string): string => join(home ?? corralHome(), "pool");
export const memberFiles = (dir: string, id: string): { record: string; socket: string; warm: string } => ({
  record: join(dir, `${id}.json`),
  socket: join(dir, `${id}.sock`),
  // The warm-up's own control server (pool-process.ts warmControl): removed with the others if it ends there.
  warm: join(dir, `${id}.warm`),
});

/** The pool process `pid` with id `id` is alive (its argv names it; a taken one has become a VM). */
export function isPoolProcess(pid: number, id: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes(DAEMON_MARKER) && argv.includes(POOL_ARG) && argv.includes(id);
  } catch {
    return false;
  }
}

function readConfig(home?: string): PoolConfig | undefined {
  try {
    return JSON.parse(readFileSync(join(poolDir(home), "pool.json"), "utf8")) as PoolConfig;
  } catch {
    return undefined;
  }
}

/** The pool's live processes; the files of dead ones are removed. */
export function poolMembers(home?: string): PoolMember[] {
  const dir = poolDir(home);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: PoolMember[] = [];
  for (const f of names) {
    const m = /^([0-9a-f]{12})\.json$/.exec(f);
    if (!m) continue;
    const id = m[1]!;
    const files = memberFiles(dir, id);
    let pid = 0;
    try {
      pid = (JSON.parse(readFileSync(files.record, "utf8")) as { pid: number }).pid;
    } catch {
      // being written
    }
    if (pid > 0 && !isPoolProcess(pid, id)) {
      for (const p of Object.values(files)) rmSync(p, { force: true });
      continue;
    }
    out.push({ id, pid, ready: names.includes(`${id}.sock`) });
  }
  return out;
}

/** Start one pool process (detached, in its own session); returns its id. */
function spawnMember(home: string, cfg: PoolConfig, nodeFlags: readonly string[]): string {
  const dir = poolDir(home);
  const id = randomBytes(6).toString("hex");
  const files = memberFiles(dir, id);
  const script = fileURLToPath(
    entryFile(new URL("../../bundle/daemon.js", import.meta.url), new URL("./daemon.js", import.meta.url)),
  );
  const child = spawn(process.execPath, [...nodeFlags, script, DAEMON_MARKER, POOL_ARG, id, cfg.warm ?? ""], {
    detached: true,
    stdio: "ignore",
    env: vmProcessEnv(home),
  });
  child.unref();
  if (child.pid === undefined) throw new VmError("VM_START_FAILED", "could not start a pool process");
  writeFileSync(files.record, JSON.stringify({ pid: child.pid, startedAt: Date.now() }) + "\n");
  if (process.getuid?.() === 0) {
    try {
      setPriority(child.pid, POOL_NICE);
    } catch {
      // ended already: poolMembers cleans it up
    }
  }
  return id;
}

/** Start pool processes until `cfg.size` are alive (the config is kept for refills). */
export function startPool(cfg: PoolConfig, nodeFlags: readonly string[], home = corralHome()): PoolMember[] {
  if (!Number.isInteger(cfg.size) || cfg.size < 1 || cfg.size > MAX_POOL)
    throw new VmError("BAD_POOL_SIZE", `--size must be a whole number from 1 to ${MAX_POOL} (got ${cfg.size})`, {
      exitCode: 2,
    });
  const warm = cfg.warm !== undefined ? resolve(cfg.warm) : undefined;
  mkdirSync(poolDir(home), { recursive: true, mode: 0o700 });
  writeFileSync(join(poolDir(home), "pool.json"), JSON.stringify({ size: cfg.size, warm }) + "\n");
  for (let n = poolMembers(home).length; n < cfg.size; n++) spawnMember(home, { ...cfg, warm }, nodeFlags);
  return poolMembers(home);
}

/** Refill the pool to its size after a process was taken (nothing when no pool is configured). */
export function refillPool(nodeFlags: readonly string[], home = corralHome()): void {
  const cfg = readConfig(home);
  if (!cfg) return;
  for (let n = poolMembers(home).length; n < cfg.size; n++) spawnMember(home, cfg, nodeFlags);
}

/** End every pool process (SIGTERM; those being taken right now finish becoming VMs) and forget the pool. */
export async function stopPool(home = corralHome()): Promise<number> {
  rmSync(join(poolDir(home), "pool.json"), { force: true });
  const members = poolMembers(home);
  for (const m of members) {
    try {
      if (m.pid > 0) process.kill(m.pid, "SIGTERM");
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && members.some((m) => m.pid > 0 && isPoolProcess(m.pid, m.id)))
    await new Promise((r) => setTimeout(r, 20));
  for (const m of members) {
    if (m.pid > 0 && isPoolProcess(m.pid, m.id)) process.kill(m.pid, "SIGKILL");
    for (const p of Object.values(memberFiles(poolDir(home), m.id))) rmSync(p, { force: true });
  }
  return members.length;
}

/** What a taken pool process is told: the VM it becomes. */
export interface PoolClaim {
  name: string;
  cfg: DaemonConfig;
  /** A command to run the moment the VM runs, its outcome answered on the claim's connection (first-exec.ts). */
  first?: FirstExec;
}

/**
 * The taker's side of the claim's connection: the pool process answers "ok" once it has the
 * config, then "running" once the VM it became is running (its control socket serves, its record
 * is published, its agent is up and, for a fork's clone, has its hostname), so the taker needs no
 * round trips to the control socket to learn it; "failed", or the connection closing, says it did
 * not get there (the caller then looks for itself, launch.ts). A claim with a first command gets
 * a third line, that command's outcome (first-exec.ts FirstExecResult, JSON).
 */
export const TAKEN_REPLY = { taken: "ok", running: "running", failed: "failed" } as const;

/** A pool process taken: its pid, and whether the VM it became reached "running". */
export interface Taken {
  pid: number;
  running: Promise<boolean>;
  /**
   * The claim's first command's outcome; undefined when the connection ended without it (the VM
   * did not run, or its process ended first).
   */
  first: Promise<FirstExecResult | undefined>;
}

/**
 * Take a warm pool process and make it the VM `claim.name`: resolves once it has taken the config
 * (it then runs as that VM's process), or undefined when no pool process is free. A taken process
 * that is found dead is skipped.
 */
export async function takeFromPool(claim: PoolClaim, home = corralHome()): Promise<Taken | undefined> {
  const dir = poolDir(home);
  for (const m of poolMembers(home)) {
    if (!m.ready || m.pid <= 0) continue;
    const files = memberFiles(dir, m.id);
    const taken = join(dir, `${m.id}.taken`);
    try {
      renameSync(files.socket, taken); // one taker wins
    } catch {
      continue;
    }
    const answer = await send(taken, JSON.stringify(claim) + "\n", claim.first !== undefined);
    rmSync(taken, { force: true });
    if (answer) return { pid: m.pid, ...answer };
  }
  return undefined;
}

/**
 * Send `line` over the Unix socket at `path`; once the other side answered "ok", resolves with a
 * promise of its second line being "running" (and, `withFirst`, of its third, the first command's
 * outcome); undefined when it did not take the line.
 */
function send(path: string, line: string, withFirst: boolean): Promise<Omit<Taken, "pid"> | undefined> {
  return new Promise((taken) => {
    const s = createConnection(path);
    let got = "";
    let running!: (ok: boolean) => void;
    const isRunning = new Promise<boolean>((r) => (running = r));
    let first!: (r: FirstExecResult | undefined) => void;
    const firstDone = new Promise<FirstExecResult | undefined>((r) => (first = r));
    const finish = (): void => {
      s.destroy();
      taken(undefined);
      running(false);
      first(undefined);
    };
    s.setTimeout(10_000, finish);
    s.on("connect", () => s.write(line));
    s.on("data", (b: Buffer) => {
      got += b.toString("utf8");
      // A first command's output comes as one long line: split only once a line has ended.
      if (!b.includes(10)) return;
      const lines = got.split("\n");
      if (lines.length < 2) return;
      if (lines[0] !== TAKEN_REPLY.taken) return finish();
      // Taken: how long the VM then takes to run is launch.ts's business (its own deadline).
      s.setTimeout(0);
      taken({ running: isRunning, first: firstDone });
      if (lines.length < 3) return;
      running(lines[1] === TAKEN_REPLY.running);
      if (withFirst && lines[1] === TAKEN_REPLY.running) {
        if (lines.length < 4) return;
        try {
          first(JSON.parse(lines[2]!) as FirstExecResult);
        } catch {
          first(undefined);
        }
      }
      s.destroy();
    });
    s.on("error", finish);
    s.on("close", finish);
  });
}
