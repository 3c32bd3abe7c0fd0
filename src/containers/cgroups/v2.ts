import { join, relative } from "node:path";
import type { Device, Resources } from "../spec/types.js";
import { emptyStats, sharesToWeight, sleep, type Cgroup, type CgroupStats } from "./cgroup.js";
import { cgKeyed, cgNum, cgPids, cgRead, cgWrite, mkdirTracked } from "./fsutil.js";
import type { CgroupLayout } from "./layout.js";
import { checkPageSize } from "./hugetlb.js";
import { ContainerError } from "../errors.js";

/**
 * A cgroup in the unified hierarchy (Documentation/admin-guide/cgroup-v2.rst). Controllers
 * must be enabled in every ancestor's cgroup.subtree_control before a child can use them.
 */
export class CgroupV2 implements Cgroup {
  readonly version = 2 as const;
  private readonly dir: string;

  constructor(
    private readonly layout: CgroupLayout,
    relPath: string,
  ) {
    if (!layout.v2)
      throw new ContainerError("CGROUP_CONTROLLER_MISSING", "no cgroup2 hierarchy is mounted on this host");
    this.dir = join(layout.v2, relPath);
  }

  dirs(): string[] {
    return [this.dir];
  }

  procsFiles(): string[] {
    return [join(this.dir, "cgroup.procs")];
  }

  create(): string[] {
    const root = this.layout.v2 ?? "/";
    const created = mkdirTracked(this.dir);
    // Enable every available controller down the path (cgroup-v2.rst "Enabling and Disabling").
    const want = this.layout.v2Controllers.map((c) => `+${c}`).join(" ");
    if (want) {
      let cur = root;
      // Each level enables the controllers for the next one, down to the container's parent.
      for (const part of relative(root, this.dir).split("/")) {
        const before = cgRead(join(cur, "cgroup.subtree_control")).trim().split(/\s+/);
        const missing = this.layout.v2Controllers.filter((c) => !before.includes(c));
        if (missing.length > 0) {
          try {
            cgWrite(join(cur, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
          } catch {
            // A controller the parent cannot delegate stays off; a limit needing it fails later with a clear error.
          }
        }
        cur = join(cur, part);
      }
    }
    return created;
  }

  private file(controller: string, name: string): string {
    if (!cgRead(join(this.dir, "cgroup.controllers")).split(/\s+/).includes(controller))
      throw new ContainerError(
        "CGROUP_CONTROLLER_MISSING",
        `the cgroup2 controller '${controller}' is not available to ${this.dir}; remove that limit from linux.resources or enable the controller`,
      );
    return join(this.dir, name);
  }

  /** hugetlb.<size>.max (cgroup-v2.rst "HugeTLB"). */
  applyHugetlb(limits: Resources["hugepageLimits"]): void {
    limits.forEach((h, i) =>
      cgWrite(this.file("hugetlb", `hugetlb.${checkPageSize(h.pageSize, i)}.max`), String(h.limit)),
    );
  }

  apply(res: Resources, _devices: Device[]): void {
    this.applyHugetlb(res.hugepageLimits);
    if (res.network)
      throw new ContainerError(
        "CGROUP_CONTROLLER_MISSING",
        "linux.resources.network: net_cls and net_prio exist only in cgroup v1, and this container's cgroups are v2; remove linux.resources.network",
      );
    const cpu = res.cpu;
    if (cpu) {
      if (cpu.shares !== undefined && cpu.shares > 0)
        cgWrite(this.file("cpu", "cpu.weight"), String(sharesToWeight(cpu.shares)));
      if ((cpu.quota !== undefined && cpu.quota !== 0) || cpu.period) {
        const quota = cpu.quota === undefined || cpu.quota < 0 ? "max" : String(cpu.quota);
        cgWrite(this.file("cpu", "cpu.max"), `${quota} ${cpu.period ?? 100000}`);
      }
      if (cpu.idle !== undefined) cgWrite(this.file("cpu", "cpu.idle"), String(cpu.idle));
      if (cpu.cpus) cgWrite(this.file("cpuset", "cpuset.cpus"), cpu.cpus);
      if (cpu.mems) cgWrite(this.file("cpuset", "cpuset.mems"), cpu.mems);
    }
    const mem = res.memory;
    if (mem) {
      const v = (n: number) => (n < 0 ? "max" : String(n));
      if (mem.limit !== undefined && mem.limit !== 0) cgWrite(this.file("memory", "memory.max"), v(mem.limit));
      if (mem.reservation !== undefined && mem.reservation !== 0)
        cgWrite(this.file("memory", "memory.low"), v(mem.reservation));
      // OCI swap is memory+swap; v2 limits swap alone (runc's ConvertMemorySwapToCgroupV2Value).
      if (mem.swap !== undefined && mem.swap !== 0) {
        const swap = mem.swap < 0 ? "max" : String(mem.swap - (mem.limit ?? 0));
        cgWrite(this.file("memory", "memory.swap.max"), swap);
      }
      if (mem.disableOOMKiller) cgWrite(this.file("memory", "memory.oom.group"), "0");
    }
    if (res.pids) cgWrite(this.file("pids", "pids.max"), res.pids.limit > 0 ? String(res.pids.limit) : "max");
    const bio = res.blockIO;
    if (bio) {
      // BFQ's io.bfq.weight takes 1..1000 like blkio.weight; io.weight takes 1..10000.
      if (bio.weight !== undefined)
        cgWrite(this.file("io", "io.weight"), `default ${Math.max(1, Math.round((bio.weight * 10000) / 1000))}`);
      const lines = new Map<string, string[]>();
      const add = (key: string, list: { major: number; minor: number; rate: number }[]) => {
        for (const t of list) {
          const dev = `${t.major}:${t.minor}`;
          lines.set(dev, [...(lines.get(dev) ?? []), `${key}=${t.rate}`]);
        }
      };
      add("rbps", bio.throttleReadBpsDevice);
      add("wbps", bio.throttleWriteBpsDevice);
      add("riops", bio.throttleReadIOPSDevice);
      add("wiops", bio.throttleWriteIOPSDevice);
      for (const [dev, kv] of lines) cgWrite(this.file("io", "io.max"), `${dev} ${kv.join(" ")}`);
    }
    // Device rules in v2 need an eBPF program attached to the cgroup; Corral does not load one.
    for (const [k, val] of Object.entries(res.unified)) {
      if (k.includes("/") || k.startsWith("."))
        throw new ContainerError(
          "OCI_CONFIG_INVALID",
          `config.json: linux.resources.unified key '${k}' is not a cgroup file name`,
        );
      cgWrite(join(this.dir, k), val);
    }
  }

  pids(): number[] {
    return cgPids(join(this.dir, "cgroup.procs"));
  }

  async freeze(): Promise<void> {
    cgWrite(join(this.dir, "cgroup.freeze"), "1");
    for (let i = 0; i < 1000 && cgKeyed(join(this.dir, "cgroup.events"))["frozen"] !== 1; i++) await sleep(2);
  }

  async thaw(): Promise<void> {
    cgWrite(join(this.dir, "cgroup.freeze"), "0");
    for (let i = 0; i < 1000 && cgKeyed(join(this.dir, "cgroup.events"))["frozen"] !== 0; i++) await sleep(2);
  }

  frozen(): boolean {
    return cgRead(join(this.dir, "cgroup.freeze")).trim() === "1";
  }

  oomKills(): number {
    return cgKeyed(join(this.dir, "memory.events"))["oom_kill"] ?? 0;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const cpu = cgKeyed(join(this.dir, "cpu.stat"));
    s.cpu.usage.total = (cpu["usage_usec"] ?? 0) * 1000;
    s.cpu.usage.user = (cpu["user_usec"] ?? 0) * 1000;
    s.cpu.usage.kernel = (cpu["system_usec"] ?? 0) * 1000;
    s.cpu.throttling = {
      periods: cpu["nr_periods"] ?? 0,
      throttledPeriods: cpu["nr_throttled"] ?? 0,
      throttledTime: (cpu["throttled_usec"] ?? 0) * 1000,
    };
    s.memory.usage = {
      usage: cgNum(join(this.dir, "memory.current")),
      max: cgNum(join(this.dir, "memory.peak")),
      limit: cgNum(join(this.dir, "memory.max")),
      failcnt: cgKeyed(join(this.dir, "memory.events"))["max"] ?? 0,
    };
    s.memory.swap = {
      usage: cgNum(join(this.dir, "memory.swap.current")),
      max: 0,
      limit: cgNum(join(this.dir, "memory.swap.max")),
      failcnt: 0,
    };
    s.memory.raw = cgKeyed(join(this.dir, "memory.stat"));
    s.memory.cache = s.memory.raw["file"] ?? 0;
    s.pids = { current: cgNum(join(this.dir, "pids.current")), limit: cgNum(join(this.dir, "pids.max")) };
    for (const line of cgRead(join(this.dir, "io.stat")).split("\n")) {
      const m = /^(\d+):(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const kv = Object.fromEntries((m[3] ?? "").split(" ").map((p) => p.split("=")));
      const major = Number(m[1]),
        minor = Number(m[2]);
      s.blkio.ioServiceBytesRecursive.push(
        { major, minor, op: "Read", value: Number(kv["rbytes"] ?? 0) },
        { major, minor, op: "Write", value: Number(kv["wbytes"] ?? 0) },
      );
      s.blkio.ioServicedRecursive.push(
        { major, minor, op: "Read", value: Number(kv["rios"] ?? 0) },
        { major, minor, op: "Write", value: Number(kv["wios"] ?? 0) },
      );
    }
    return s;
  }
}
