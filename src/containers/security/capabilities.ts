/**
 * Linux capabilities for `process.capabilities` (OCI runtime spec, config.md "Linux Process":
 * bounding, effective, inheritable, permitted, ambient; capabilities(7)).
 * Masks are bigints, bit N = capability number N, as in /proc/<pid>/status (CapEff, CapBnd, ...).
 */
import { readFileSync } from "node:fs";
import { CorralError } from "../../errors.js";
import { ContainerError } from "../errors.js";

/** Capability numbers from linux/capability.h, in numeric order (the index is the number). */
export const CAPABILITY_NAMES = Object.freeze([
  "CAP_CHOWN", // 0
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL", // 5
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE", // 10
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", // 15
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", // 20
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME", // 25
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", // 30
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM", // 35
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE", // 40
] as const);
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

export const CAPABILITIES: Readonly<Record<CapabilityName, number>> = Object.freeze(
  Object.fromEntries(CAPABILITY_NAMES.map((n, i) => [n, i])) as Record<CapabilityName, number>,
);

/** What `runc spec` writes into a new config.json (runc 1.1): every set but inheritable. */
export const RUNC_DEFAULT_CAPABILITIES: readonly CapabilityName[] = Object.freeze([
  "CAP_AUDIT_WRITE",
  "CAP_KILL",
  "CAP_NET_BIND_SERVICE",
]);
export const RUNC_DEFAULT_CAPABILITY_SPEC = Object.freeze({
  bounding: RUNC_DEFAULT_CAPABILITIES,
  effective: RUNC_DEFAULT_CAPABILITIES,
  permitted: RUNC_DEFAULT_CAPABILITIES,
  ambient: RUNC_DEFAULT_CAPABILITIES,
});

/** The set container engines (containerd's and moby's OCI defaults) grant a container's root. */
export const ENGINE_DEFAULT_CAPABILITIES: readonly CapabilityName[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
]);

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}
export const CAPABILITY_SET_NAMES = ["bounding", "effective", "permitted", "inheritable", "ambient"] as const;

export interface CapabilityOptions {
  /** Highest capability the running kernel knows; default /proc/sys/kernel/cap_last_cap. */
  lastCap?: number;
  /** Receives a warning for each capability the kernel does not know (it is left out). */
  warn?: (message: string) => void;
}

const ROOT = "process.capabilities";

function invalid(field: string, what: string): CorralError {
  return new ContainerError(
    "CAPABILITY_INVALID",
    `${field}: ${what}; fix config.json (OCI runtime spec, config.md "Linux Process")`,
  );
}

/** The running kernel's highest capability number (capabilities(7), /proc/sys/kernel/cap_last_cap). */
export function kernelLastCap(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
  } catch {
    return CAPABILITY_NAMES.length - 1;
  }
}

/** Masks for the value of `config.process.capabilities` (absent sets are empty). */
export function capabilitySets(spec: unknown, opts: CapabilityOptions = {}): CapabilitySets {
  const sets: CapabilitySets = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  if (spec === undefined || spec === null) return sets;
  if (typeof spec !== "object" || Array.isArray(spec)) throw invalid(ROOT, "must be an object of capability lists");
  const lastCap = opts.lastCap ?? kernelLastCap();
  const warn = opts.warn ?? ((m: string): void => void process.stderr.write(`corral: warning: ${m}\n`));
  const s = spec as Record<string, unknown>;
  for (const set of CAPABILITY_SET_NAMES) {
    const list = s[set];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw invalid(`${ROOT}.${set}`, "must be an array of capability names");
    list.forEach((name: unknown, i) => {
      const field = `${ROOT}.${set}[${i}]`;
      if (typeof name !== "string") throw invalid(field, `must be a string like "CAP_CHOWN", got ${typeof name}`);
      const nr = (CAPABILITIES as Record<string, number>)[name];
      if (nr === undefined) {
        throw new ContainerError(
          "CAPABILITY_UNKNOWN",
          `${field}: unknown capability '${name}'; use a name from capabilities(7) such as CAP_NET_BIND_SERVICE`,
        );
      }
      // Like runc: a capability newer than the running kernel is left out with a warning, so one
      // config.json works across kernels.
      if (nr > lastCap)
        return void warn(`${field}: ${name} is not supported by this kernel (last is ${lastCap}); ignored`);
      sets[set] |= 1n << BigInt(nr);
    });
  }
  return sets;
}

/** Names of the capabilities in a mask, in numeric order. */
export function capabilityNames(mask: bigint): CapabilityName[] {
  return CAPABILITY_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}
