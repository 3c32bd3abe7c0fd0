import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Device, Resources } from "../spec/types.js";
import { DEFAULT_DEVICES, emptyStats, sleep, type Cgroup, type CgroupStats, type MemEntry } from "./cgroup.js";
import { cgKeyed, cgNum, cgPids, cgRead, cgWrite, mkdirTracked } from "./fsutil.js";
import type { CgroupLayout } from "./layout.js";
import { checkPageSize, NO_HUGETLB } from "./hugetlb.js";
import { CgroupV2 } from "./v2.js";
import { ContainerError } from "../errors.js";

/**
 * A cgroup in the v1 hierarchies (Documentation/admin-guide/cgroup-v1/). In the hybrid layout
 * the cgroup2 mount gets a directory too, as runc does, so that tools reading it find the
 * container.
 */
export class CgroupV1 implements Cgroup {
  readonly version = 1 as const;
  private readonly byController = new Map<string, string>();
  private readonly all: string[] = [];

  constructor(
    private readonly layout: CgroupLayout,
    private readonly relPath: string,
  ) {
    for (const h of layout.v1) {
      const dir = join(h.mount, relPath);
      this.all.push(dir);
      for (const c of h.controllers) this.byController.set(c, dir);
    }
    if (layout.v2) this.all.push(join(layout.v2, relPath));
  }

  dirs(): string[] {
    return [...this.all];
  }

  procsFiles(): string[] {
    return this.all.map((d) => join(d, "cgroup.procs"));
  }

  private dir(controller: string): string {
    const d = this.byController.get(controller);
    if (!d)
      throw new ContainerError(
        "CGROUP_CONTROLLER_MISSING",
        `the host has no '${controller}' cgroup controller mounted; remove that limit from linux.resources or mount the controller`,
      );
    return d;
  }

  create(): string[] {
    const created: string[] = [];
    for (const d of this.all) created.push(...mkdirTracked(d));
    // A new cpuset cgroup starts with empty cpus/mems and refuses tasks until they are set:
    // copy them down from the parent at every level we created (cgroup-v1/cpusets.rst 1.7).
    const cpuset = this.byController.get("cpuset");
    if (cpuset) {
      for (const d of created.filter((c) => cpuset.startsWith(c))) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          if (cgRead(join(d, f)).trim() === "") cgWrite(join(d, f), cgRead(join(d, "..", f)).trim());
        }
      }
    }
    return created;
  }

  apply(res: Resources, devices: Device[]): void {
    const cpu = res.cpu;
    if (cpu) {
      if (cpu.shares !== undefined && cpu.shares > 0) cgWrite(join(this.dir("cpu"), "cpu.shares"), String(cpu.shares));
      if (cpu.period !== undefined && cpu.period > 0)
        cgWrite(join(this.dir("cpu"), "cpu.cfs_period_us"), String(cpu.period));
      if (cpu.quota !== undefined && cpu.quota !== 0)
        cgWrite(join(this.dir("cpu"), "cpu.cfs_quota_us"), String(cpu.quota));
      if (cpu.realtimePeriod) cgWrite(join(this.dir("cpu"), "cpu.rt_period_us"), String(cpu.realtimePeriod));
      if (cpu.realtimeRuntime) cgWrite(join(this.dir("cpu"), "cpu.rt_runtime_us"), String(cpu.realtimeRuntime));
      if (cpu.cpus) cgWrite(join(this.dir("cpuset"), "cpuset.cpus"), cpu.cpus);
      if (cpu.mems) cgWrite(join(this.dir("cpuset"), "cpuset.mems"), cpu.mems);
    }
    const mem = res.memory;
    if (mem) {
      const d = () => this.dir("memory");
      if (mem.limit !== undefined && mem.limit !== 0) cgWrite(join(d(), "memory.limit_in_bytes"), String(mem.limit));
      if (mem.reservation !== undefined && mem.reservation !== 0)
        cgWrite(join(d(), "memory.soft_limit_in_bytes"), String(mem.reservation));
      // OCI "swap" is the memory+swap limit, which is exactly v1's memsw.
      if (mem.swap !== undefined && mem.swap !== 0) cgWrite(join(d(), "memory.memsw.limit_in_bytes"), String(mem.swap));
      if (mem.swappiness !== undefined && mem.swappiness >= 0)
        cgWrite(join(d(), "memory.swappiness"), String(mem.swappiness));
      if (mem.disableOOMKiller) cgWrite(join(d(), "memory.oom_control"), "1");
    }
    if (res.pids) cgWrite(join(this.dir("pids"), "pids.max"), res.pids.limit > 0 ? String(res.pids.limit) : "max");
    const bio = res.blockIO;
    if (bio) {
      const d = this.dir("blkio");
      // CFQ's blkio.weight is gone from recent kernels; BFQ offers the same scale as blkio.bfq.weight.
      const bfq = !existsSync(join(d, "blkio.weight")) && existsSync(join(d, "blkio.bfq.weight")) ? "bfq." : "";
      const weighted =
        bio.weight !== undefined
          ? "weight"
          : bio.weightDevice.some((w) => w.weight !== undefined)
            ? "weightDevice"
            : undefined;
      if (weighted && bfq === "" && !existsSync(join(d, "blkio.weight"))) {
        // mq-deadline, kyber and none have no cgroup weights; runc fails here too, less plainly.
        throw new ContainerError(
          "CGROUP_CONTROLLER_MISSING",
          `linux.resources.blockIO.${weighted}: this host's I/O schedulers take no cgroup weight, neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ) exists; remove it, or switch the disk's scheduler to bfq`,
        );
      }
      if (bio.weight !== undefined) cgWrite(join(d, `blkio.${bfq}weight`), String(bio.weight));
      for (const w of bio.weightDevice)
        if (w.weight !== undefined) cgWrite(join(d, `blkio.${bfq}weight_device`), `${w.major}:${w.minor} ${w.weight}`);
      const thr = (file: string, list: { major: number; minor: number; rate: number }[]) => {
        for (const t of list) cgWrite(join(d, file), `${t.major}:${t.minor} ${t.rate}`);
      };
      thr("blkio.throttle.read_bps_device", bio.throttleReadBpsDevice);
      thr("blkio.throttle.write_bps_device", bio.throttleWriteBpsDevice);
      thr("blkio.throttle.read_iops_device", bio.throttleReadIOPSDevice);
      thr("blkio.throttle.write_iops_device", bio.throttleWriteIOPSDevice);
    }
    if (res.devices.length > 0 && this.byController.has("devices")) {
      const d = this.dir("devices");
      for (const r of res.devices) {
        const rule = `${r.type ?? "a"} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access ?? "rwm"}`;
        cgWrite(
          join(d, r.allow ? "devices.allow" : "devices.deny"),
          r.type === "a" || r.type === undefined ? "a" : rule,
        );
      }
      // The default devices and the ones config.json creates stay usable (runc does the same).
      // The devices cgroup knows only a, b and c (cgroup-v1/devices.rst): a FIFO (p) needs no
      // rule, and an unbuffered character device (u) is a c device to the kernel.
      for (const dev of [...DEFAULT_DEVICES, ...devices]) {
        if (dev.type === "p") continue;
        cgWrite(join(d, "devices.allow"), `${dev.type === "u" ? "c" : dev.type} ${dev.major}:${dev.minor} rwm`);
      }
      cgWrite(join(d, "devices.allow"), "c 136:* rwm");
      cgWrite(join(d, "devices.allow"), "c 5:2 rwm");
    }
    this.applyHugetlb(res.hugepageLimits);
    const net = res.network;
    if (net) {
      // net_cls and net_prio exist only as v1 controllers (cgroup-v1/net_cls.rst, net_prio.rst).
      const v1 = (c: string, field: string) => {
        const d = this.byController.get(c);
        if (!d)
          throw new ContainerError(
            "CGROUP_CONTROLLER_MISSING",
            `linux.resources.network.${field}: the host has no ${c} cgroup controller mounted; remove it, or mount ${c} (a cgroup v1 hierarchy)`,
          );
        return d;
      };
      if (net.classID !== undefined) cgWrite(join(v1("net_cls", "classID"), "net_cls.classid"), String(net.classID));
      for (const p of net.priorities)
        cgWrite(join(v1("net_prio", "priorities"), "net_prio.ifpriomap"), `${p.name} ${p.priority}`);
    }
    if (Object.keys(res.unified).length > 0)
      throw new ContainerError(
        "CGROUP_CONTROLLER_MISSING",
        "linux.resources.unified needs cgroup v2 controllers; this host runs them as cgroup v1",
      );
  }

  /** hugetlb in its v1 hierarchy, or, in the hybrid layout, in the cgroup2 mount that carries it. */
  private applyHugetlb(limits: Resources["hugepageLimits"]): void {
    if (limits.length === 0) return;
    const v1 = this.byController.get("hugetlb");
    let v2: CgroupV2 | undefined;
    if (!v1) {
      if (!this.layout.v2 || !this.layout.v2Controllers.includes("hugetlb"))
        throw new ContainerError("CGROUP_CONTROLLER_MISSING", NO_HUGETLB);
      v2 = new CgroupV2(this.layout, this.relPath);
      v2.create(); // the directory exists (this.all); this enables hugetlb down its path
    }
    limits.forEach((h, i) => {
      const size = checkPageSize(h.pageSize, i);
      if (v1) cgWrite(join(v1, `hugetlb.${size}.limit_in_bytes`), String(h.limit));
      else v2?.applyHugetlb([h]);
    });
  }

  pids(): number[] {
    const d = this.byController.get("pids") ?? this.all[0];
    return d ? cgPids(join(d, "cgroup.procs")) : [];
  }

  async freeze(): Promise<void> {
    const f = join(this.dir("freezer"), "freezer.state");
    cgWrite(f, "FROZEN");
    for (let i = 0; i < 1000 && cgRead(f).trim() !== "FROZEN"; i++) await sleep(2);
  }

  async thaw(): Promise<void> {
    const f = join(this.dir("freezer"), "freezer.state");
    cgWrite(f, "THAWED");
    for (let i = 0; i < 1000 && cgRead(f).trim() !== "THAWED"; i++) await sleep(2);
  }

  frozen(): boolean {
    const d = this.byController.get("freezer");
    return d !== undefined && cgRead(join(d, "freezer.state")).trim() === "FROZEN";
  }

  oomKills(): number {
    const d = this.byController.get("memory");
    return d ? (cgKeyed(join(d, "memory.oom_control"))["oom_kill"] ?? 0) : 0;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const acct = this.byController.get("cpuacct");
    if (acct && existsSync(acct)) {
      s.cpu.usage.total = cgNum(join(acct, "cpuacct.usage"));
      s.cpu.usage.percpu = cgRead(join(acct, "cpuacct.usage_percpu")).trim().split(/\s+/).filter(Boolean).map(Number);
      const st = cgKeyed(join(acct, "cpuacct.stat"));
      const tick = 1e7; // USER_HZ 100 -> ns
      s.cpu.usage.user = (st["user"] ?? 0) * tick;
      s.cpu.usage.kernel = (st["system"] ?? 0) * tick;
    }
    const cpu = this.byController.get("cpu");
    if (cpu) {
      const st = cgKeyed(join(cpu, "cpu.stat"));
      s.cpu.throttling = {
        periods: st["nr_periods"] ?? 0,
        throttledPeriods: st["nr_throttled"] ?? 0,
        throttledTime: st["throttled_time"] ?? 0,
      };
    }
    const mem = this.byController.get("memory");
    if (mem) {
      const entry = (prefix: string): MemEntry => ({
        usage: cgNum(join(mem, `${prefix}usage_in_bytes`)),
        max: cgNum(join(mem, `${prefix}max_usage_in_bytes`)),
        limit: cgNum(join(mem, `${prefix}limit_in_bytes`)),
        failcnt: cgNum(join(mem, `${prefix}failcnt`)),
      });
      s.memory.usage = entry("memory.");
      s.memory.swap = entry("memory.memsw.");
      s.memory.kernel = entry("memory.kmem.");
      s.memory.raw = cgKeyed(join(mem, "memory.stat"));
      s.memory.cache = s.memory.raw["total_cache"] ?? s.memory.raw["cache"] ?? 0;
    }
    const pids = this.byController.get("pids");
    if (pids) {
      s.pids.current = cgNum(join(pids, "pids.current"));
      s.pids.limit = cgNum(join(pids, "pids.max"));
    }
    const blk = this.byController.get("blkio");
    if (blk) {
      s.blkio.ioServiceBytesRecursive = blkioEntries(cgRead(join(blk, "blkio.throttle.io_service_bytes")));
      s.blkio.ioServicedRecursive = blkioEntries(cgRead(join(blk, "blkio.throttle.io_serviced")));
    }
    return s;
  }
}

function blkioEntries(text: string) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line);
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? "", value: Number(m[4]) });
  }
  return out;
}
