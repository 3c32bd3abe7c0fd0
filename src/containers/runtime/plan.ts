import { existsSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { DEFAULT_DEVICES } from "../cgroups/cgroup.js";
import { CLONE_NEW, MOUNT_OPTIONS, MS, NS_FILE, PROPAGATION, RLIMITS } from "../linux/consts.js";
import { secureJoin } from "../spec/paths.js";
import type { Namespace, NamespaceType, Process, Spec } from "../spec/types.js";
import type { CapabilitySets } from "../security/index.js";
import type { SeccompProgram } from "../seccomp/index.js";
import type { IdMapTools } from "./rootless.js";
import { ContainerError } from "../errors.js";

/**
 * The helper's plan (see native/corral-init.c): records of tab-separated fields, one per line.
 * Everything the helper does is decided here.
 */
export class Plan {
  private readonly lines: string[] = [];
  add(op: string, ...fields: (string | number | bigint)[]): this {
    const all = [op, ...fields.map(String)];
    for (const f of all) {
      if (/[\t\n]/.test(f))
        throw new ContainerError(
          "OCI_CONFIG_INVALID",
          `config.json: the value '${f.slice(0, 60)}' contains a tab or newline, which Corral cannot pass on; remove it`,
        );
    }
    this.lines.push(all.join("\t"));
    return this;
  }
  toString(): string {
    return this.lines.join("\n");
  }
}

/** Parse mount(8)-style options into flags, propagation flags and filesystem data. */
export function mountFlags(options: string[]): { flags: number; propagation: number[]; data: string[] } {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const o of options) {
    const known = MOUNT_OPTIONS[o];
    if (known) {
      flags = (flags | known[0]) & ~known[1];
    } else if (o in PROPAGATION) {
      propagation.push(PROPAGATION[o] ?? 0);
    } else if (o === "rro") {
      flags |= MS.RDONLY;
    } else if (["tmpcopyup", "notmpcopyup", "copy-symlink", "rrw", "idmap", "ridmap", "z", "Z"].includes(o)) {
      // runc/crun extensions Corral does not implement; engines add them as hints.
    } else {
      data.push(o);
    }
  }
  return { flags, propagation, data };
}

/** Joining by path (setns) in an order that keeps the later paths reachable. */
const JOIN_ORDER: NamespaceType[] = ["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"];

function namespaceRecords(plan: Plan, namespaces: Namespace[]): number {
  let cloneFlags = 0;
  for (const t of JOIN_ORDER) {
    const ns = namespaces.find((n) => n.type === t);
    if (!ns) continue;
    if (ns.path) {
      if (!existsSync(ns.path))
        throw new ContainerError(
          "OCI_NAMESPACE_MISSING",
          `config.json: linux.namespaces ${t} path ${ns.path} does not exist; start the namespace's owner first`,
        );
      plan.add("setns", ns.path, CLONE_NEW[t]);
    } else {
      cloneFlags |= CLONE_NEW[t];
    }
  }
  return cloneFlags;
}

export interface SecurityParts {
  caps?: CapabilitySets;
  seccomp?: SeccompProgram;
}

function processRecords(plan: Plan, p: Process, sec: SecurityParts): void {
  for (const a of p.args) plan.add("arg", a);
  for (const e of p.env) plan.add("env", e);
  plan.add("cwd", p.cwd);
  plan.add("user", p.user.uid, p.user.gid);
  for (const g of p.user.additionalGids) plan.add("gid", g);
  if (p.user.umask !== undefined) plan.add("umask", p.user.umask);
  for (const r of p.rlimits) plan.add("rlimit", RLIMITS[r.type] ?? 0, r.soft, r.hard);
  if (p.noNewPrivileges) plan.add("nnp");
  if (p.terminal) plan.add("terminal");
  const c = sec.caps;
  if (c) plan.add("caps", hex(c.bounding), hex(c.effective), hex(c.permitted), hex(c.inheritable), hex(c.ambient));
  if (sec.seccomp) plan.add("seccomp", Buffer.from(sec.seccomp.filter).toString("hex"), sec.seccomp.flags);
}

const hex = (n: bigint) => "0x" + n.toString(16);

export interface CreatePlanInput {
  spec: Spec;
  bundleDir: string;
  rootfs: string;
  cgroupProcs: string[];
  /** Container cgroup directories per v1 hierarchy mount (or the v2 one), for type "cgroup" mounts. */
  cgroupDirs: { mount: string; dir: string }[];
  stateDir?: string;
  consoleSocket?: string;
  detach: boolean;
  noPivot: boolean;
  security: SecurityParts;
  /** Run by an unprivileged caller: maps written under user_namespaces(7)'s unprivileged rules. */
  rootless?: boolean;
  idTools?: IdMapTools;
}

/** The plan for a container's init process (OCI runtime.md "create"). */
export function createPlan(o: CreatePlanInput): Plan {
  const { spec, rootfs } = o;
  const proc = spec.process;
  if (!proc)
    throw new ContainerError(
      "OCI_CONFIG_INVALID",
      "config.json: process is missing; a container needs a process to run",
    );
  const plan = new Plan();
  for (const f of o.cgroupProcs) plan.add("cgroup", f);
  if (proc.oomScoreAdj !== undefined) plan.add("oom", proc.oomScoreAdj);
  if (o.detach) plan.add("detach");
  if (o.stateDir) plan.add("fifo", o.stateDir);
  if (o.consoleSocket) plan.add("console", o.consoleSocket);
  const ns = spec.linux.namespaces;
  const cloneFlags = namespaceRecords(plan, ns);
  plan.add("clone", cloneFlags);
  const newUser = (cloneFlags & CLONE_NEW.user) !== 0;
  const has = (t: NamespaceType) => ns.some((n) => n.type === t);
  const fresh = (t: NamespaceType) => ns.some((n) => n.type === t && !n.path);
  if (newUser) {
    if (spec.linux.uidMappings.length === 0 || spec.linux.gidMappings.length === 0)
      throw new ContainerError(
        "OCI_CONFIG_INVALID",
        "config.json: linux.uidMappings and linux.gidMappings are required with a new user namespace",
      );
    for (const m of spec.linux.uidMappings) plan.add("uidmap", `${m.containerID} ${m.hostID} ${m.size}`);
    for (const m of spec.linux.gidMappings) plan.add("gidmap", `${m.containerID} ${m.hostID} ${m.size}`);
    // user_namespaces(7) "Writing to mapping files": newuidmap/newgidmap write maps beyond the
    // caller's own id; without CAP_SETGID the gid map needs setgroups denied first.
    if (o.idTools?.uid) plan.add("newuidmap", o.idTools.uid);
    if (o.idTools?.gid) plan.add("newgidmap", o.idTools.gid);
    else if (o.rootless) plan.add("setgroups", "deny");
  }
  if (spec.hostname !== undefined) plan.add("hostname", spec.hostname);
  if (spec.domainname !== undefined) plan.add("domainname", spec.domainname);
  if (!has("mount")) {
    sharedMountsPlan(plan, spec, rootfs);
    processRecords(plan, proc, o.security);
    return plan;
  }

  // Rootfs: keep host mount events out (rslave), then make the rootfs a mount point of its own
  // so pivot_root accepts it (config-linux.md "rootfsPropagation"; pivot_root(2)).
  plan.add("prop", "/", MS.SLAVE | MS.REC);
  plan.add("mount", rootfs, rootfs, "", MS.BIND | MS.REC, "", "d");
  let devpts = false;
  for (const [i, m] of spec.mounts.entries()) {
    const dst = secureJoin(rootfs, m.destination);
    if (dst === rootfs)
      throw new ContainerError("OCI_CONFIG_INVALID", `config.json: mounts[${i}].destination may not be the root`);
    const { flags, propagation, data } = mountFlags(m.options);
    if (m.type === "cgroup") {
      // The container's own cgroup directories, bound read-only (or rw if asked) under a tmpfs.
      plan.add("mount", "tmpfs", dst, "tmpfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, "mode=755", "d");
      for (const c of o.cgroupDirs) {
        const sub = join(dst, c.mount.split("/").pop() ?? "x");
        plan.add(
          "mount",
          c.dir,
          sub,
          "",
          MS.BIND | MS.REC | (flags & MS.RDONLY) | MS.NOSUID | MS.NODEV | MS.NOEXEC,
          "",
          "d",
        );
      }
      if (flags & MS.RDONLY)
        plan.add(
          "mount",
          "tmpfs",
          dst,
          "tmpfs",
          MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
          "mode=755",
          "d",
        );
      continue;
    }
    const isBind = (flags & MS.BIND) !== 0 || m.type === "bind";
    if (isBind) {
      const src = isAbsolute(m.source) ? m.source : resolve(o.bundleDir, m.source);
      if (!existsSync(src))
        throw new ContainerError(
          "OCI_MOUNT_SOURCE_MISSING",
          `config.json: mounts[${i}].source ${src} does not exist; create it or fix the path`,
        );
      plan.add("mount", src, dst, "", flags | MS.BIND, data.join(","), statSync(src).isDirectory() ? "d" : "f");
    } else if (m.type === "sysfs" && newUser && !fresh("network")) {
      // sysfs can be mounted only by the owner of the network namespace: bind the host's.
      plan.add("mount", "/sys", dst, "", MS.BIND | MS.REC | (flags & MS.RDONLY), "", "d");
    } else {
      // "s": a sysfs the kernel refuses (EPERM in a user namespace) becomes a read-only bind of /sys.
      plan.add("mount", m.source, dst, m.type, flags, data.join(","), m.type === "sysfs" ? "s" : "d");
    }
    for (const p of propagation) plan.add("prop", dst, p);
    if (m.destination === "/dev/pts" && m.type === "devpts") devpts = true;
  }
  // Device nodes (config-linux.md "Default Devices" and linux.devices).
  const devs = [...DEFAULT_DEVICES.map((d) => ({ ...d, fileMode: 0o666, uid: 0, gid: 0 })), ...spec.linux.devices];
  const dirs = new Set<string>();
  for (const d of devs) {
    const typeBits = d.type === "b" ? 0o060000 : d.type === "p" ? 0o010000 : 0o020000;
    const path = secureJoin(rootfs, d.path);
    if (!dirs.has(join(path, ".."))) plan.add("mkdir", join(path, ".."), 0o755);
    dirs.add(join(path, ".."));
    plan.add("mknod", path, typeBits | (d.fileMode ?? 0o666), d.major, d.minor, d.uid ?? 0, d.gid ?? 0, d.path);
  }
  const dev = secureJoin(rootfs, "/dev");
  for (const [target, name] of [
    ["/proc/self/fd", "fd"],
    ["/proc/self/fd/0", "stdin"],
    ["/proc/self/fd/1", "stdout"],
    ["/proc/self/fd/2", "stderr"],
  ] as const)
    plan.add("symlink", target, join(dev, name));
  if (devpts) plan.add("symlink", "pts/ptmx", join(dev, "ptmx"));

  if (o.noPivot) plan.add("chroot", rootfs);
  else plan.add("pivot", rootfs);

  // After the switch every path is the container's own.
  for (const [k, v] of Object.entries(spec.linux.sysctl)) plan.add("sysctl", "/proc/sys/" + k.replace(/\./g, "/"), v);
  for (const p of spec.linux.maskedPaths) plan.add("mask", p);
  for (const p of spec.linux.readonlyPaths) plan.add("ropath", p);
  const prop = spec.linux.rootfsPropagation;
  if (prop) plan.add("prop", "/", PROPAGATION[prop] ?? 0);
  if (spec.root.readonly) plan.add("rootro");
  processRecords(plan, proc, o.security);
  return plan;
}

/**
 * No mount namespace in linux.namespaces: the container shares the runtime's, as it shares any
 * namespace type not listed (config-linux.md "Namespaces"). Then every mount, device node and
 * remount the config asks for would be made in the host's mount table and outlive the container
 * (runc makes them there and leaves them), so each is refused, naming the field; what remains
 * is a chroot into the rootfs. runc refuses masked and read-only paths the same way.
 */
function sharedMountsPlan(plan: Plan, spec: Spec, rootfs: string): void {
  const fix = 'add {"type": "mount"} to linux.namespaces';
  const refuse = (field: string, what: string) => {
    throw new ContainerError(
      "OCI_CONFIG_INVALID",
      `config.json: ${field} ${what} in the host's mount namespace, which the container shares without a mount namespace of its own; ${fix} or remove ${field}`,
    );
  };
  const m = spec.mounts[0];
  if (m) refuse("mounts", `(${m.destination} first) would be mounted`);
  if (spec.linux.maskedPaths.length > 0) refuse("linux.maskedPaths", "would be masked");
  if (spec.linux.readonlyPaths.length > 0) refuse("linux.readonlyPaths", "would be remounted read-only");
  if (spec.linux.devices.length > 0) refuse("linux.devices", "would get device nodes made and bound");
  if (spec.root.readonly) refuse("root.readonly", "would remount the rootfs read-only");
  if (spec.linux.rootfsPropagation) refuse("linux.rootfsPropagation", "would change propagation");
  for (const [k, v] of Object.entries(spec.linux.sysctl)) plan.add("sysctl", "/proc/sys/" + k.replace(/\./g, "/"), v);
  plan.add("chrootonly", rootfs);
}

export interface ExecPlanInput {
  process: Process;
  /** The container's init PID: its namespaces are joined. */
  initPid: number;
  namespaces: NamespaceType[];
  cgroupProcs: string[];
  consoleSocket?: string;
  detach: boolean;
  security: SecurityParts;
}

/** The plan for `exec`: join every namespace and cgroup of a running container. */
export function execPlan(o: ExecPlanInput): Plan {
  const plan = new Plan();
  for (const f of o.cgroupProcs) plan.add("cgroup", f);
  if (o.process.oomScoreAdj !== undefined) plan.add("oom", o.process.oomScoreAdj);
  if (o.detach) plan.add("detach");
  if (o.consoleSocket) plan.add("console", o.consoleSocket);
  for (const t of JOIN_ORDER) {
    if (!o.namespaces.includes(t)) continue;
    plan.add("setns", `/proc/${o.initPid}/ns/${NS_FILE[t]}`, CLONE_NEW[t]);
  }
  plan.add("clone", 0);
  processRecords(plan, o.process, o.security);
  return plan;
}
