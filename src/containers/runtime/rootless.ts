import { accessSync, constants, existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import type { IdMapping, Mount, Spec } from "../spec/types.js";
import { ContainerError } from "../errors.js";

/**
 * Rootless containers: `corral oci` run by an unprivileged user (or by root inside a user
 * namespace it does not own the host from). The container gets a user namespace whose root is
 * the caller (user_namespaces(7)); cgroups are used only where a delegated cgroup is writable.
 */

/** The caller's own user namespace is not the initial one (its uid_map is not the identity). */
export function inUserNamespace(): boolean {
  try {
    const lines = readFileSync("/proc/self/uid_map", "utf8").trim().split("\n");
    const f = (lines[0] ?? "").trim().split(/\s+/);
    return !(lines.length === 1 && f[0] === "0" && f[1] === "0" && f[2] === "4294967295");
  } catch {
    return false;
  }
}

export function isRootless(): boolean {
  return (process.geteuid?.() ?? 0) !== 0 || inUserNamespace();
}

/** runc's choice: $XDG_RUNTIME_DIR for rootless callers, /run for root. */
export function defaultRoot(): string {
  if (!isRootless()) return "/run/corral-oci";
  const xdg = process.env["XDG_RUNTIME_DIR"];
  return xdg ? join(xdg, "corral-oci") : join(tmpdir(), `corral-oci-${process.geteuid?.() ?? 0}`);
}

function sysctl(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * Whether this kernel lets an unprivileged process create a user namespace: Debian's
 * kernel.unprivileged_userns_clone, Ubuntu's AppArmor restriction, and user.max_user_namespaces
 * (per user namespace since Linux 4.9, so a parent namespace may have set it to 0 for us).
 */
export function checkUserNamespaces(read: (p: string) => string | undefined = sysctl): void {
  const deny = (name: string, value: string) => {
    throw new ContainerError(
      "OCI_USERNS_DISABLED",
      `this kernel forbids unprivileged user namespaces (sysctl ${name} = ${value}); have root run 'sysctl -w ${name}=${name.startsWith("user.") ? 15000 : name.includes("apparmor") ? 0 : 1}', or run corral oci as root`,
    );
  };
  if (read("/proc/sys/kernel/unprivileged_userns_clone") === "0") deny("kernel.unprivileged_userns_clone", "0");
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1")
    deny("kernel.apparmor_restrict_unprivileged_userns", "1");
  if (read("/proc/sys/user/max_user_namespaces") === "0") deny("user.max_user_namespaces", "0");
}

/** Ranges of /etc/subuid or /etc/subgid granted to the caller (by name or by number). */
export function subIdRanges(file: string, name: string, id: number): { start: number; size: number }[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split("\n")) {
    const [who, start, size] = line.trim().split(":");
    if ((who === name || who === String(id)) && start && size) out.push({ start: Number(start), size: Number(size) });
  }
  return out;
}

function findTool(name: string): string | undefined {
  for (const d of (process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .concat(["/usr/bin", "/usr/sbin"])) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface IdMapTools {
  /** newuidmap/newgidmap paths when the maps need more than the caller's own id. */
  uid?: string;
  gid?: string;
}

/**
 * How to write one map: the kernel lets an unprivileged process map only its own id (one line,
 * size 1); anything more must go through the setuid newuidmap/newgidmap (Debian's uidmap
 * package), which checks the ranges against /etc/subuid and /etc/subgid.
 */
function mapTool(kind: "uid" | "gid", maps: IdMapping[], own: number): string | undefined {
  const m0 = maps[0];
  if (maps.length === 1 && m0 && m0.hostID === own && m0.size === 1) return undefined;
  const field = `linux.${kind}Mappings`;
  const file = `/etc/sub${kind}`;
  const ranges = [{ start: own, size: 1 }, ...subIdRanges(file, userInfo().username, own)];
  for (const [i, m] of maps.entries()) {
    const fits = ranges.some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.size);
    if (!fits)
      throw new ContainerError(
        "OCI_IDMAP_DENIED",
        `config.json: ${field}[${i}] maps host ids ${m.hostID}..${m.hostID + m.size - 1}, which ${file} does not grant to ${userInfo().username}; map only your own ${kind} or ranges listed there`,
      );
  }
  const tool = findTool(`new${kind}map`);
  if (!tool)
    throw new ContainerError(
      "OCI_NEWUIDMAP_MISSING",
      `config.json: ${field} maps more than your own ${kind}, which needs new${kind}map; install the uidmap package`,
    );
  return tool;
}

const mapped = (maps: IdMapping[], id: number) => maps.some((m) => id >= m.containerID && id < m.containerID + m.size);

/**
 * The spec a rootless caller can run: a new user namespace (unless one is joined), maps that
 * default to "container root = the caller", and devpts options naming only mapped ids (the
 * kernel refuses gid=5 when gid 5 has no mapping; runc's `spec --rootless` drops it too).
 */
export function rootlessSpec(spec: Spec): { spec: Spec; tools: IdMapTools } {
  const uid = process.geteuid?.() ?? 0,
    gid = process.getegid?.() ?? 0;
  const linux = { ...spec.linux, namespaces: [...spec.linux.namespaces] };
  const userNs = linux.namespaces.find((n) => n.type === "user");
  if (!userNs) linux.namespaces.push({ type: "user" });
  const tools: IdMapTools = {};
  if (!userNs?.path) {
    if (linux.uidMappings.length === 0) linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
    if (linux.gidMappings.length === 0) linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
    const u = mapTool("uid", linux.uidMappings, uid);
    const g = mapTool("gid", linux.gidMappings, gid);
    if (u) tools.uid = u;
    if (g) tools.gid = g;
  }
  const mounts: Mount[] = spec.mounts.map((m) => {
    if (m.type !== "devpts") return m;
    const options = m.options.filter((o) => {
      const id = /^(uid|gid)=(\d+)$/.exec(o);
      if (!id) return true;
      return mapped(id[1] === "uid" ? linux.uidMappings : linux.gidMappings, Number(id[2]));
    });
    return { ...m, options };
  });
  return { spec: { ...spec, linux, mounts }, tools };
}

/**
 * Whether the caller may create this cgroup: every directory, or its nearest existing parent,
 * must be writable (a cgroup delegated to the user, cgroups(7) "Delegation").
 */
export function cgroupWritable(dirs: string[]): boolean {
  if (dirs.length === 0) return false;
  for (let d of dirs) {
    while (!existsSync(d) && d !== "/") d = dirname(d);
    try {
      accessSync(d, constants.W_OK);
    } catch {
      return false;
    }
  }
  return true;
}

/** The processes in the PID namespace of `pid` (a container without a cgroup). */
export function pidsInNamespaceOf(pid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  // Without a PID namespace of its own the container shares ours: never sweep the host.
  if (ns === readlinkSync("/proc/self/ns/pid")) return [pid];
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) === ns) out.push(Number(p));
    } catch {
      // gone or not ours to see
    }
  }
  return out;
}
