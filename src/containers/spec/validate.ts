import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { RLIMITS } from "../linux/consts.js";
import { arr, bool, int, invalid, isObj, obj, optInt, optObj, optStr, str, strArr, strMap, type Obj } from "./read.js";
import type {
  Device,
  DeviceRule,
  Hook,
  Hooks,
  IdMapping,
  Linux,
  Mount,
  Namespace,
  NamespaceType,
  Process,
  Resources,
  Rlimit,
  Spec,
  ThrottleDevice,
  WeightDevice,
} from "./types.js";
import { ContainerError } from "../errors.js";

const NS_TYPES: readonly NamespaceType[] = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"];
const U32 = 0xffffffff;

/** Parse and check a config.json document (OCI runtime spec, config.md). */
export function parseSpec(doc: unknown): Spec {
  const c = obj(doc, "(top level)");
  const ociVersion = str(c["ociVersion"], "ociVersion");
  if (!/^1\.\d+\.\d+/.test(ociVersion)) throw invalid("ociVersion", `must be a 1.x version (got '${ociVersion}')`);
  const root = obj(c["root"], "root");
  const spec: Spec = {
    ociVersion,
    root: { path: str(root["path"], "root.path"), readonly: bool(root, "readonly", "root") },
    mounts: arr(c, "mounts", "").map((m, i) => parseMount(m, `mounts[${i}]`)),
    hooks: parseHooks(optObj(c, "hooks", "") ?? {}),
    annotations: strMap(c, "annotations", ""),
    linux: parseLinux(optObj(c, "linux", "") ?? {}),
  };
  const proc = optObj(c, "process", "");
  if (proc) spec.process = parseProcess(proc, "process");
  const hostname = optStr(c, "hostname", "");
  if (hostname !== undefined) spec.hostname = hostname;
  const domainname = optStr(c, "domainname", "");
  if (domainname !== undefined) spec.domainname = domainname;
  const hasNs = (t: NamespaceType) => spec.linux.namespaces.some((n) => n.type === t);
  if ((spec.hostname || spec.domainname) && !hasNs("uts"))
    throw invalid("hostname", "needs a uts namespace in linux.namespaces");
  if (spec.linux.uidMappings.length > 0 && !hasNs("user"))
    throw invalid("linux.uidMappings", "needs a user namespace in linux.namespaces");
  for (const key of Object.keys(spec.linux.sysctl)) {
    const field = `linux.sysctl.${key}`;
    if (!/^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$/.test(key)) throw invalid(field, "is not a sysctl name");
    // A sysctl of a namespace the container shares, or of none, would be set for the whole host.
    const ns = sysctlNamespace(key.replace(/\//g, "."));
    if (ns === undefined) throw invalid(field, "belongs to no namespace: setting it would change the host; remove it");
    if (!hasNs(ns))
      throw invalid(
        field,
        `belongs to the ${ns} namespace, which the container shares with the host; add a ${ns} namespace to linux.namespaces or remove it`,
      );
  }
  return spec;
}

/** IPC sysctls (ipc_sysctl.c, mq_sysctl.c). */
const IPC_SYSCTLS = [
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
];

/** The namespace whose copy a sysctl sets (runc's list), or undefined for the host-wide ones. */
function sysctlNamespace(key: string): NamespaceType | undefined {
  if (key.startsWith("net.")) return "network";
  if (key.startsWith("fs.mqueue.") || IPC_SYSCTLS.includes(key)) return "ipc";
  if (key === "kernel.hostname" || key === "kernel.domainname") return "uts";
  return undefined;
}

export function parseProcess(p: Obj, path: string): Process {
  const user = optObj(p, "user", path) ?? {};
  const args = strArr(p, "args", path);
  if (args.length === 0) throw invalid(`${path}.args`, "must name the program to run");
  const cwd = str(p["cwd"] ?? "/", `${path}.cwd`);
  if (!isAbsolute(cwd)) throw invalid(`${path}.cwd`, "must be an absolute path");
  const env = strArr(p, "env", path);
  env.forEach((e, i) => {
    if (!e.includes("=")) throw invalid(`${path}.env[${i}]`, "must be NAME=value");
  });
  const out: Process = {
    terminal: bool(p, "terminal", path),
    user: {
      uid: int(user["uid"] ?? 0, `${path}.user.uid`, 0, U32),
      gid: int(user["gid"] ?? 0, `${path}.user.gid`, 0, U32),
      additionalGids: arr(user, "additionalGids", `${path}.user`).map((g, i) =>
        int(g, `${path}.user.additionalGids[${i}]`, 0, U32),
      ),
    },
    args,
    env,
    cwd,
    rlimits: arr(p, "rlimits", path).map((r, i) => parseRlimit(r, `${path}.rlimits[${i}]`)),
    noNewPrivileges: bool(p, "noNewPrivileges", path),
  };
  const umask = optInt(user, "umask", `${path}.user`, 0, 0o777);
  if (umask !== undefined) out.user.umask = umask;
  if (p["capabilities"] !== undefined && p["capabilities"] !== null)
    out.capabilities = obj(p["capabilities"], `${path}.capabilities`);
  const aa = optStr(p, "apparmorProfile", path);
  if (aa) out.apparmorProfile = aa;
  const se = optStr(p, "selinuxLabel", path);
  if (se) out.selinuxLabel = se;
  const oom = optInt(p, "oomScoreAdj", path, -1000, 1000);
  if (oom !== undefined) out.oomScoreAdj = oom;
  return out;
}

function parseRlimit(v: unknown, path: string): Rlimit {
  const r = obj(v, path);
  const type = str(r["type"], `${path}.type`);
  if (!(type in RLIMITS)) throw invalid(`${path}.type`, `is not a known rlimit ('${type}'); use e.g. RLIMIT_NOFILE`);
  const big = (k: string) => {
    const x = r[k];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0)
      throw invalid(`${path}.${k}`, "must be a non-negative integer");
    return BigInt(x);
  };
  return { type, soft: big("soft"), hard: big("hard") };
}

function parseMount(v: unknown, path: string): Mount {
  const m = obj(v, path);
  const destination = str(m["destination"], `${path}.destination`);
  if (!isAbsolute(destination)) throw invalid(`${path}.destination`, "must be an absolute path");
  const options = strArr(m, "options", path);
  const type = optStr(m, "type", path) ?? (options.includes("bind") || options.includes("rbind") ? "bind" : "");
  if (type === "") throw invalid(`${path}.type`, "is missing (and options do not say bind)");
  return { destination, type, source: optStr(m, "source", path) ?? type, options };
}

function parseHooks(h: Obj): Hooks {
  const list = (k: string): Hook[] =>
    arr(h, k, "hooks").map((v, i) => {
      const p = `hooks.${k}[${i}]`;
      const o = obj(v, p);
      const hook: Hook = { path: str(o["path"], `${p}.path`), args: strArr(o, "args", p), env: strArr(o, "env", p) };
      const t = optInt(o, "timeout", p, 1);
      if (t !== undefined) hook.timeout = t;
      return hook;
    });
  return {
    prestart: list("prestart"),
    createRuntime: list("createRuntime"),
    createContainer: list("createContainer"),
    startContainer: list("startContainer"),
    poststart: list("poststart"),
    poststop: list("poststop"),
  };
}

function parseLinux(l: Obj): Linux {
  const p = "linux";
  const namespaces: Namespace[] = arr(l, "namespaces", p).map((v, i) => {
    const o = obj(v, `${p}.namespaces[${i}]`);
    const type = str(o["type"], `${p}.namespaces[${i}].type`) as NamespaceType;
    if (!NS_TYPES.includes(type)) throw invalid(`${p}.namespaces[${i}].type`, `is not a namespace type ('${type}')`);
    const ns: Namespace = { type };
    const nsPath = optStr(o, "path", `${p}.namespaces[${i}]`);
    if (nsPath) ns.path = nsPath;
    return ns;
  });
  const seen = new Set<string>();
  namespaces.forEach((n, i) => {
    if (seen.has(n.type)) throw invalid(`${p}.namespaces[${i}]`, `repeats the ${n.type} namespace`);
    seen.add(n.type);
  });
  const maps = (k: string): IdMapping[] =>
    arr(l, k, p).map((v, i) => {
      const o = obj(v, `${p}.${k}[${i}]`);
      const q = `${p}.${k}[${i}]`;
      return {
        containerID: int(o["containerID"], `${q}.containerID`, 0, U32),
        hostID: int(o["hostID"], `${q}.hostID`, 0, U32),
        size: int(o["size"], `${q}.size`, 1, U32),
      };
    });
  const devices: Device[] = arr(l, "devices", p).map((v, i) => {
    const q = `${p}.devices[${i}]`;
    const o = obj(v, q);
    const type = str(o["type"], `${q}.type`);
    if (!["c", "b", "u", "p"].includes(type)) throw invalid(`${q}.type`, "must be c, b, u or p");
    const d: Device = {
      type: type as Device["type"],
      path: str(o["path"], `${q}.path`),
      major: optInt(o, "major", q) ?? 0,
      minor: optInt(o, "minor", q) ?? 0,
    };
    const fm = optInt(o, "fileMode", q, 0, 0o7777);
    if (fm !== undefined) d.fileMode = fm;
    const uid = optInt(o, "uid", q, 0, U32);
    if (uid !== undefined) d.uid = uid;
    const gid = optInt(o, "gid", q, 0, U32);
    if (gid !== undefined) d.gid = gid;
    return d;
  });
  const linux: Linux = {
    namespaces,
    uidMappings: maps("uidMappings"),
    gidMappings: maps("gidMappings"),
    devices,
    resources: parseResources(optObj(l, "resources", p) ?? {}),
    sysctl: strMap(l, "sysctl", p),
    maskedPaths: strArr(l, "maskedPaths", p),
    readonlyPaths: strArr(l, "readonlyPaths", p),
  };
  const cg = optStr(l, "cgroupsPath", p);
  if (cg) linux.cgroupsPath = cg;
  const prop = optStr(l, "rootfsPropagation", p);
  if (prop) {
    if (!["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"].includes(prop))
      throw invalid(`${p}.rootfsPropagation`, `is not a propagation mode ('${prop}')`);
    linux.rootfsPropagation = prop;
  }
  if (l["seccomp"] !== undefined && l["seccomp"] !== null) linux.seccomp = obj(l["seccomp"], `${p}.seccomp`);
  const label = optStr(l, "mountLabel", p);
  if (label) linux.mountLabel = label;
  return linux;
}

function parseResources(r: Obj): Resources {
  const p = "linux.resources";
  const res: Resources = {
    devices: arr(r, "devices", p).map((v, i): DeviceRule => {
      const q = `${p}.devices[${i}]`;
      const o = obj(v, q);
      if (typeof o["allow"] !== "boolean") throw invalid(`${q}.allow`, "must be true or false");
      const d: DeviceRule = { allow: o["allow"] };
      const t = optStr(o, "type", q);
      if (t !== undefined) d.type = t;
      const ma = optInt(o, "major", q);
      if (ma !== undefined) d.major = ma;
      const mi = optInt(o, "minor", q);
      if (mi !== undefined) d.minor = mi;
      const a = optStr(o, "access", q);
      if (a !== undefined) d.access = a;
      return d;
    }),
    unified: strMap(r, "unified", p),
    hugepageLimits: arr(r, "hugepageLimits", p).map((v, i) => {
      const q = `${p}.hugepageLimits[${i}]`;
      const o = obj(v, q);
      const pageSize = str(o["pageSize"], `${q}.pageSize`);
      if (!/^\d+[KMG]B$/.test(pageSize))
        throw invalid(`${q}.pageSize`, `'${pageSize}' is not a page size like 2MB or 1GB`);
      return { pageSize, limit: int(o["limit"], `${q}.limit`, 0) };
    }),
  };
  const net = optObj(r, "network", p);
  if (net) {
    const q = `${p}.network`;
    res.network = {
      priorities: arr(net, "priorities", q).map((v, i) => {
        const o = obj(v, `${q}.priorities[${i}]`);
        return {
          name: str(o["name"], `${q}.priorities[${i}].name`),
          priority: int(o["priority"], `${q}.priorities[${i}].priority`, 0, 0xffffffff),
        };
      }),
    };
    const classID = optInt(net, "classID", q, 0, 0xffffffff);
    if (classID !== undefined) res.network.classID = classID;
  }
  const pick = (o: Obj, q: string, keys: string[], min?: number) => {
    const out: Record<string, number> = {};
    for (const k of keys) {
      const v = optInt(o, k, q, min);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };
  const mem = optObj(r, "memory", p);
  if (mem) {
    res.memory = pick(mem, `${p}.memory`, ["limit", "reservation", "swap", "kernel", "swappiness"], -1);
    if (bool(mem, "disableOOMKiller", `${p}.memory`)) res.memory.disableOOMKiller = true;
  }
  const cpu = optObj(r, "cpu", p);
  if (cpu) {
    res.cpu = pick(cpu, `${p}.cpu`, ["shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "idle"], -1);
    const cpus = optStr(cpu, "cpus", `${p}.cpu`);
    if (cpus) res.cpu.cpus = cpus;
    const mems = optStr(cpu, "mems", `${p}.cpu`);
    if (mems) res.cpu.mems = mems;
  }
  const pids = optObj(r, "pids", p);
  if (pids) res.pids = { limit: int(pids["limit"], `${p}.pids.limit`) };
  const bio = optObj(r, "blockIO", p);
  if (bio) {
    const q = `${p}.blockIO`;
    const thr = (k: string): ThrottleDevice[] =>
      arr(bio, k, q).map((v, i) => {
        const o = obj(v, `${q}.${k}[${i}]`);
        return {
          major: int(o["major"], `${q}.${k}[${i}].major`, 0),
          minor: int(o["minor"], `${q}.${k}[${i}].minor`, 0),
          rate: int(o["rate"], `${q}.${k}[${i}].rate`, 0),
        };
      });
    res.blockIO = {
      weightDevice: arr(bio, "weightDevice", q).map((v, i): WeightDevice => {
        const o = obj(v, `${q}.weightDevice[${i}]`);
        const w: WeightDevice = {
          major: int(o["major"], `${q}.weightDevice[${i}].major`, 0),
          minor: int(o["minor"], `${q}.weightDevice[${i}].minor`, 0),
        };
        const wt = optInt(o, "weight", `${q}.weightDevice[${i}]`, 10, 1000);
        if (wt !== undefined) w.weight = wt;
        return w;
      }),
      throttleReadBpsDevice: thr("throttleReadBpsDevice"),
      throttleWriteBpsDevice: thr("throttleWriteBpsDevice"),
      throttleReadIOPSDevice: thr("throttleReadIOPSDevice"),
      throttleWriteIOPSDevice: thr("throttleWriteIOPSDevice"),
    };
    const w = optInt(bio, "weight", q, 10, 1000);
    if (w !== undefined) res.blockIO.weight = w;
  }
  return res;
}

/** A bundle: its directory, its parsed config and the absolute rootfs path. */
export interface Bundle {
  dir: string;
  spec: Spec;
  rootfs: string;
}

export function loadBundle(dir: string): Bundle {
  const abs = resolve(dir);
  const file = join(abs, "config.json");
  if (!existsSync(file))
    throw new ContainerError(
      "OCI_BUNDLE_INVALID",
      `${abs} has no config.json; pass the bundle directory with --bundle`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ContainerError(
      "OCI_CONFIG_INVALID",
      `config.json in ${abs} is not valid JSON (${(e as Error).message}); fix the file`,
      { cause: e },
    );
  }
  const spec = parseSpec(doc);
  const rootfs = resolve(abs, spec.root.path);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory())
    throw new ContainerError(
      "OCI_BUNDLE_INVALID",
      `the bundle's rootfs ${rootfs} (root.path) is not a directory; unpack the root filesystem there`,
    );
  if (!spec.process) throw invalid("process", "is missing; a container needs a process to run");
  return { dir: abs, spec, rootfs };
}

export { isObj };
