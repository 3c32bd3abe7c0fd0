import type { Cgroup } from "./cgroup.js";
import { cgRmdir } from "./fsutil.js";
import { detectLayout, type CgroupLayout } from "./layout.js";
import { CgroupV1 } from "./v1.js";
import { CgroupV2 } from "./v2.js";
import { NoCgroup } from "./none.js";
import { ContainerError } from "../errors.js";

export type { Cgroup, CgroupStats } from "./cgroup.js";
export { detectLayout, type CgroupLayout } from "./layout.js";

/**
 * The cgroup path of a container (config-linux.md "cgroupsPath"): absolute paths are taken from
 * the hierarchy roots; relative ones too (runc puts them under its own cgroup, which for a
 * runtime started by an engine is the root); none gives /corral/<id>. The systemd form
 * "slice:prefix:name" needs a systemd cgroup driver, which Corral does not have.
 */
export function cgroupPath(id: string, configured: string | undefined): string {
  if (configured === undefined || configured === "") return `/corral/${id}`;
  if (configured.includes(":"))
    throw new ContainerError(
      "OCI_SYSTEMD_CGROUP",
      `linux.cgroupsPath '${configured}' is a systemd slice path; Corral manages cgroupfs directly: run the engine with the cgroupfs cgroup manager`,
    );
  const clean =
    "/" +
    configured
      .split("/")
      .filter((p) => p && p !== "." && p !== "..")
      .join("/");
  return clean;
}

/** "" is the path of no cgroup at all (a rootless container without a delegated cgroup). */
export const NO_CGROUP = "";

export function openCgroup(relPath: string, layout: CgroupLayout = detectLayout()): Cgroup {
  if (relPath === NO_CGROUP) return new NoCgroup();
  return layout.mode === "unified" ? new CgroupV2(layout, relPath) : new CgroupV1(layout, relPath);
}

/**
 * Remove a container's cgroup directories, deepest first: the leaf in every hierarchy, then
 * the parents Corral created for it (when no other container still uses them).
 */
export async function removeCgroup(cg: Cgroup, created: string[]): Promise<void> {
  for (const d of cg.dirs()) await cgRmdir(d);
  const parents = created.filter((d) => !cg.dirs().includes(d)).sort((a, b) => b.length - a.length);
  for (const d of parents) {
    try {
      await cgRmdir(d, 0);
    } catch {
      // Still used by another container (ENOTEMPTY/EBUSY): it goes with the last one.
    }
  }
}
