import { emptyStats, type Cgroup, type CgroupStats } from "./cgroup.js";
import { ContainerError } from "../errors.js";

/**
 * The cgroup of a rootless container that got none: the host's hierarchies are not writable by
 * the caller and no delegated cgroup exists (runc and crun skip cgroups the same way rootless).
 * It has no directories and no limits; its processes are found through the PID namespace.
 */
export class NoCgroup implements Cgroup {
  readonly version = 1 as const;
  dirs(): string[] {
    return [];
  }
  procsFiles(): string[] {
    return [];
  }
  create(): string[] {
    return [];
  }
  apply(): void {}
  pids(): number[] {
    return [];
  }
  freeze(): Promise<void> {
    return Promise.reject(
      new ContainerError(
        "OCI_NO_CGROUP",
        "this rootless container has no cgroup, so it cannot be paused; give the user a delegated cgroup to use pause",
      ),
    );
  }
  thaw(): Promise<void> {
    return this.freeze();
  }
  frozen(): boolean {
    return false;
  }
  stats(): CgroupStats {
    return emptyStats();
  }
  oomKills(): number {
    return 0;
  }
}
