import type { Device, Resources } from "../spec/types.js";

/** runc's `events --stats` data shape (runc libcontainer/cgroups Stats, JSON names). */
export interface CgroupStats {
  cpu: {
    usage: { total: number; percpu: number[]; kernel: number; user: number };
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: { cache: number; usage: MemEntry; swap: MemEntry; kernel: MemEntry; raw: Record<string, number> };
  pids: { current: number; limit: number };
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
}
export interface MemEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}
export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** One container's cgroup, in whichever layout the host has. */
export interface Cgroup {
  readonly version: 1 | 2;
  /** Every directory of this cgroup (one per v1 hierarchy, or one in v2). */
  dirs(): string[];
  /** Files a process writes its PID into to join (cgroup.procs of each directory). */
  procsFiles(): string[];
  /** mkdir everything; returns the directories created (for removal on delete). */
  create(): string[];
  apply(res: Resources, devices: Device[]): void;
  pids(): number[];
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  frozen(): boolean;
  stats(): CgroupStats;
  /** Whether the memory controller saw an OOM kill in this cgroup so far. */
  oomKills(): number;
}

export function emptyStats(): CgroupStats {
  const mem = (): MemEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  return {
    cpu: {
      usage: { total: 0, percpu: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    memory: { cache: 0, usage: mem(), swap: mem(), kernel: mem(), raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
  };
}

/** The devices every container may use (runc's defaults; config-linux.md "Default Devices"). */
export const DEFAULT_DEVICES: readonly { type: "c"; path: string; major: number; minor: number }[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5 },
  { type: "c", path: "/dev/full", major: 1, minor: 7 },
  { type: "c", path: "/dev/random", major: 1, minor: 8 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0 },
];

/** cgroup v2 cpu.weight from v1-style shares (the conversion runc and crun use). */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
