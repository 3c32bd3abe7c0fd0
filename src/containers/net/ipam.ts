/**
 * IPv4 address allocation for container networks: one pool file per network
 * (`<state>/<pool>.json`: the subnet and a lease per container id), changed only under a lock
 * file, written atomically (write + rename) so a crash never leaves half a file.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ContainerError } from "../errors.js";

export interface Subnet {
  /** Canonical "a.b.c.d/p". */
  cidr: string;
  network: number;
  prefix: number;
  /** The first host address: the bridge's own address, and the containers' default route. */
  gateway: string;
}

export function ipToInt(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function parseSubnet(s: string): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  const addr = m?.[1] === undefined ? undefined : ipToInt(m[1]);
  const prefix = Number(m?.[2]);
  if (addr === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new ContainerError(
      "NET_SUBNET_INVALID",
      `subnet '${s}' is not an IPv4 network like 172.31.200.0/24 (prefix 8 to 30)`,
    );
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  if (network !== addr) {
    throw new ContainerError(
      "NET_SUBNET_INVALID",
      `subnet '${s}' has host bits set; did you mean ${intToIp(network)}/${prefix}?`,
    );
  }
  return { cidr: `${intToIp(network)}/${prefix}`, network, prefix, gateway: intToIp(network + 1) };
}

export interface Pool {
  subnet: string;
  /** container id -> address */
  leases: Record<string, string>;
}

export function readPool(file: string): Pool | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Pool;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ContainerError(
      "NET_STATE_CORRUPT",
      `cannot read ${file} (${(e as Error).message}); remove it if no container uses this network`,
    );
  }
}

export function writePool(file: string, pool: Pool): void {
  if (Object.keys(pool.leases).length === 0) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
    return;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(pool, null, 2) + "\n");
  renameSync(tmp, file);
}

/** The lowest free address of the subnet (the gateway and broadcast excluded). */
export function allocate(pool: Pool, subnet: Subnet, id: string): string {
  const existing = pool.leases[id];
  if (existing !== undefined) return existing;
  const used = new Set(Object.values(pool.leases));
  const broadcast = subnet.network + 2 ** (32 - subnet.prefix) - 1;
  for (let a = subnet.network + 2; a < broadcast; a++) {
    const s = intToIp(a);
    if (!used.has(s)) {
      pool.leases[id] = s;
      return s;
    }
  }
  throw new ContainerError(
    "NET_POOL_EXHAUSTED",
    `no free address left in ${subnet.cidr}; remove stopped containers or use a larger subnet`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs fn while holding `<dir>/<name>.lock` (O_EXCL create; the holder's pid inside, so a lock
 * left by a dead process is broken rather than waited for).
 */
export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(path, "utf8"));
    } catch {
      continue; // released meanwhile
    }
    if (owner > 0 && !alive(owner)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else broke it first
      }
      continue;
    }
    if (attempt > 1000) {
      throw new ContainerError(
        "NET_LOCK_TIMEOUT",
        `${path} is held by process ${owner}; wait for it or remove the file if that process is not Corral`,
      );
    }
    await sleep(10);
  }
  try {
    return await fn();
  } finally {
    unlinkSync(path);
  }
}
