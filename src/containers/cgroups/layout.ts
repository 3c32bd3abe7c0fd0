import { readFileSync } from "node:fs";

/**
 * Where the host's cgroup hierarchies are mounted. Three layouts exist (cgroups(7)):
 * "unified" (only cgroup2, usually at /sys/fs/cgroup), "legacy" (only v1 hierarchies) and
 * "hybrid" (v1 hierarchies for the controllers plus a cgroup2 mount, e.g. /sys/fs/cgroup/unified,
 * that carries whichever controllers no v1 hierarchy took). Read from /proc/self/mountinfo.
 */
export interface V1Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/memory. */
  mount: string;
  /** Controllers bound to it (e.g. ["cpu", "cpuacct"]); a named hierarchy has "name=x". */
  controllers: string[];
  /** The cgroup of the mount's root, relative to the hierarchy root ("/" normally). */
  root: string;
}

export interface CgroupLayout {
  mode: "unified" | "hybrid" | "legacy";
  v1: V1Hierarchy[];
  /** cgroup2 mount point, if any. */
  v2?: string;
  /** Controllers available in the cgroup2 hierarchy (cgroup.controllers at its root). */
  v2Controllers: string[];
}

export function parseMountinfo(
  text: string,
): { mountPoint: string; root: string; fstype: string; superOpts: string[] }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    // proc(5) mountinfo: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const f = left.split(" ");
    const r = right.split(" ");
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({
      root: unescape(f[3] ?? "/"),
      mountPoint: unescape(f[4] ?? ""),
      fstype: r[0] ?? "",
      superOpts: (r[2] ?? "").split(","),
    });
  }
  return out;
}

let cached: CgroupLayout | undefined;

export function detectLayout(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): CgroupLayout {
  if (cached && arguments.length === 0) return cached;
  const mounts = parseMountinfo(mountinfo);
  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  let v2: string | undefined;
  for (const m of mounts) {
    if (m.fstype === "cgroup2" && v2 === undefined) v2 = m.mountPoint;
    if (m.fstype !== "cgroup") continue;
    const controllers = m.superOpts.filter(
      (o) =>
        ![
          "rw",
          "ro",
          "relatime",
          "noexec",
          "nosuid",
          "nodev",
          "clone_children",
          "xattr",
          "noprefix",
          "cpuset_v2_mode",
        ].includes(o) && !o.startsWith("release_agent="),
    );
    const key = controllers.join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    v1.push({ mount: m.mountPoint, controllers, root: m.root });
  }
  let v2Controllers: string[] = [];
  if (v2 !== undefined) {
    try {
      v2Controllers = readFileSync(`${v2}/cgroup.controllers`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
      v2Controllers = [];
    }
  }
  const mode = v1.some((h) => !h.controllers.every((c) => c.startsWith("name=")))
    ? v2
      ? "hybrid"
      : "legacy"
    : "unified";
  const layout: CgroupLayout = { mode, v1, v2Controllers };
  if (v2 !== undefined) layout.v2 = v2;
  if (arguments.length === 0) cached = layout;
  return layout;
}
