import { readdirSync } from "node:fs";
import { ContainerError } from "../errors.js";

/**
 * Huge page sizes as the hugetlb controller names its files ("2MB", "1GB"; mm/hugetlb_cgroup.c
 * mem_fmt), from the sizes this kernel offers in /sys/kernel/mm/hugepages/hugepages-<n>kB.
 */
export function hostPageSizes(): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync("/sys/kernel/mm/hugepages");
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const kb = Number(/^hugepages-(\d+)kB$/.exec(e)?.[1] ?? NaN);
    if (!Number.isFinite(kb)) return [];
    return [kb >= 1 << 20 ? `${kb >> 20}GB` : kb >= 1 << 10 ? `${kb >> 10}MB` : `${kb}KB`];
  });
}

/** The page size of hugepageLimits[i], checked against the host's (the cgroup file would be missing otherwise). */
export function checkPageSize(size: string, i: number): string {
  const sizes = hostPageSizes();
  if (!sizes.includes(size))
    throw new ContainerError(
      "CGROUP_CONTROLLER_MISSING",
      `linux.resources.hugepageLimits[${i}].pageSize: this host has no ${size} huge pages (it has ${sizes.join(", ") || "none"}); use one of those or remove the limit`,
    );
  return size;
}

export const NO_HUGETLB =
  "linux.resources.hugepageLimits: this host has no hugetlb cgroup controller (neither a v1 hierarchy nor in cgroup2); remove hugepageLimits";
