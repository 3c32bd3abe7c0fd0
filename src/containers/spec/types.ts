/**
 * The parts of the OCI runtime configuration (config.json) that Corral reads, after
 * validation. Field names follow the OCI runtime spec 1.x (config.md, config-linux.md).
 */
export interface Spec {
  ociVersion: string;
  root: { path: string; readonly: boolean };
  process?: Process;
  hostname?: string;
  domainname?: string;
  mounts: Mount[];
  hooks: Hooks;
  annotations: Record<string, string>;
  linux: Linux;
}

export interface Process {
  terminal: boolean;
  user: { uid: number; gid: number; umask?: number; additionalGids: number[] };
  args: string[];
  env: string[];
  cwd: string;
  /** The raw `process.capabilities` object, handed to the capability module as is. */
  capabilities?: unknown;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  apparmorProfile?: string;
  selinuxLabel?: string;
  oomScoreAdj?: number;
}

export interface Rlimit {
  type: string;
  soft: bigint;
  hard: bigint;
}

export interface Mount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface Hook {
  path: string;
  args: string[];
  env: string[];
  timeout?: number;
}
export interface Hooks {
  prestart: Hook[];
  createRuntime: Hook[];
  createContainer: Hook[];
  startContainer: Hook[];
  poststart: Hook[];
  poststop: Hook[];
}

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";
export interface Namespace {
  type: NamespaceType;
  path?: string;
}
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Device {
  type: "c" | "b" | "u" | "p";
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}
export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}
export interface WeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

/** linux.resources (config-linux.md "Control groups"). Limits stay bigint-free: numbers fit. */
export interface Resources {
  devices: DeviceRule[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
    idle?: number;
  };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice: WeightDevice[];
    throttleReadBpsDevice: ThrottleDevice[];
    throttleWriteBpsDevice: ThrottleDevice[];
    throttleReadIOPSDevice: ThrottleDevice[];
    throttleWriteIOPSDevice: ThrottleDevice[];
  };
  unified: Record<string, string>;
  /** config-linux.md "Huge page limits": hugetlb.<pageSize> limits in bytes. */
  hugepageLimits: { pageSize: string; limit: number }[];
  /** config-linux.md "Network": net_cls class id and net_prio per-interface priorities (cgroup v1 only). */
  network?: { classID?: number; priorities: { name: string; priority: number }[] };
}

export interface Linux {
  namespaces: Namespace[];
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  devices: Device[];
  cgroupsPath?: string;
  resources: Resources;
  rootfsPropagation?: string;
  /** The raw `linux.seccomp` object, compiled by the seccomp module. */
  seccomp?: unknown;
  sysctl: Record<string, string>;
  maskedPaths: string[];
  readonlyPaths: string[];
  mountLabel?: string;
}
