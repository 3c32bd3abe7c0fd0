/**
 * Lease stores for the DHCP server. The switch's VMs are separate processes, each answering its
 * own guest's DHCP, so their leases live in one file in the switch directory, read and rewritten
 * under an exclusive flock(2): one MAC keeps one address, and no address goes to two live VMs.
 * A lease belongs to the process that took it; when that process is gone its address may be
 * given to another MAC (oldest first), after every never-used address.
 */
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { flock } from "../sys/io.js";
import { LOCK_EX, LOCK_UN } from "../sys/layout.js";
import type { LeaseStore } from "./dhcp.js";
import { NetError } from "./errors.js";

export interface Lease {
  mac: string;
  ip: number;
  pid: number;
  /** Milliseconds since the epoch when the lease was last granted. */
  granted: number;
}

/** The usable pool: first..last inclusive. */
export interface Pool {
  first: number;
  last: number;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Pick an address for mac from a lease list (shared by both stores). Mutates `leases`. */
export function allocateIn(
  leases: Lease[],
  pool: Pool,
  mac: string,
  hint: number | undefined,
  pid: number,
  alive: (pid: number) => boolean,
): number | undefined {
  const mine = leases.find((l) => l.mac === mac);
  if (mine) {
    mine.pid = pid;
    mine.granted = Date.now();
    return mine.ip;
  }
  const taken = new Map(leases.map((l) => [l.ip, l]));
  let ip: number | undefined;
  const free = (a: number): boolean => a >= pool.first && a <= pool.last && !taken.has(a);
  if (hint !== undefined && free(hint)) ip = hint;
  for (let a = pool.first; ip === undefined && a <= pool.last; a++) if (free(a)) ip = a;
  if (ip === undefined) {
    // Pool full: reuse the oldest lease of a process that is gone.
    const stale = leases.filter((l) => !alive(l.pid)).sort((a, b) => a.granted - b.granted)[0];
    if (!stale) return undefined;
    leases.splice(leases.indexOf(stale), 1);
    ip = stale.ip;
  }
  leases.push({ mac, ip, pid, granted: Date.now() });
  return ip;
}

/** Leases of one process (tests, and a switch nobody else shares). */
export class MemoryLeaseStore implements LeaseStore {
  readonly leases: Lease[] = [];
  constructor(private readonly pool: Pool) {}
  allocate(mac: string, hint?: number): number | undefined {
    return allocateIn(this.leases, this.pool, mac, hint, process.pid, () => true);
  }
  lookup(mac: string): number | undefined {
    return this.leases.find((l) => l.mac === mac)?.ip;
  }
  release(mac: string): void {
    const i = this.leases.findIndex((l) => l.mac === mac);
    if (i >= 0) this.leases.splice(i, 1);
  }
}

/** Leases in a JSON file shared by every process on the switch. */
export class FileLeaseStore implements LeaseStore {
  constructor(
    readonly path: string,
    private readonly pool: Pool,
    private readonly pid = process.pid,
  ) {}

  allocate(mac: string, hint?: number): number | undefined {
    return this.locked((leases) => allocateIn(leases, this.pool, mac, hint, this.pid, pidAlive));
  }
  lookup(mac: string): number | undefined {
    return this.locked((leases) => leases.find((l) => l.mac === mac)?.ip);
  }
  release(mac: string): void {
    this.locked((leases) => {
      const i = leases.findIndex((l) => l.mac === mac);
      if (i >= 0) leases.splice(i, 1);
    });
  }

  /** Run fn on the current leases under the lock, writing them back (atomically) afterwards. */
  private locked<T>(fn: (leases: Lease[]) => T): T {
    const lock = `${this.path}.lock`;
    let fd: number;
    try {
      fd = openSync(lock, "a");
    } catch (e) {
      throw new NetError("NET_LEASES", `cannot open the switch lease file ${lock}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    try {
      if (flock(fd, LOCK_EX) !== 0) throw new NetError("NET_LEASES", `cannot lock the switch lease file ${lock}`);
      const leases = this.read();
      const before = JSON.stringify(leases);
      const r = fn(leases);
      if (JSON.stringify(leases) !== before) {
        writeFileSync(`${this.path}.${this.pid}.tmp`, JSON.stringify({ leases }, null, 1));
        renameSync(`${this.path}.${this.pid}.tmp`, this.path);
      }
      return r;
    } finally {
      flock(fd, LOCK_UN);
      closeSync(fd);
    }
  }

  private read(): Lease[] {
    try {
      const j = JSON.parse(readFileSync(this.path, "utf8")) as { leases?: unknown };
      return Array.isArray(j.leases)
        ? (j.leases as Lease[]).filter(
            (l) => typeof l.mac === "string" && Number.isInteger(l.ip) && Number.isInteger(l.pid),
          )
        : [];
    } catch {
      // Missing or damaged (a crash mid-write cannot happen: writes are renames): start afresh.
      return [];
    }
  }
}
