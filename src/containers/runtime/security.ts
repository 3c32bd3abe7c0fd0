import { existsSync } from "node:fs";
import { buildSeccomp } from "../seccomp/index.js";
import { summarizeSeccompWarnings } from "../seccomp/warnings.js";
import { capabilitySets } from "../security/index.js";
import type { Process } from "../spec/types.js";
import type { SecurityParts } from "./plan.js";

/**
 * Capability sets and seccomp program for a process (OCI config.md "Linux Process",
 * config-linux.md "Seccomp"). Absent `capabilities` keeps the runtime's own (runc does the same).
 * AppArmor and SELinux labels are ignored with a warning: Corral loads no LSM policy.
 */
export function securityFor(proc: Process, seccomp: unknown, warn: (m: string) => void): SecurityParts {
  const out: SecurityParts = {};
  if (proc.capabilities !== undefined) out.caps = capabilitySets(proc.capabilities, { warn });
  if (seccomp !== undefined) {
    const prog = buildSeccomp(seccomp);
    for (const w of summarizeSeccompWarnings(prog.warnings)) warn(w);
    out.seccomp = prog;
  }
  if (proc.apparmorProfile) {
    const has = existsSync("/sys/kernel/security/apparmor");
    warn(
      `process.apparmorProfile '${proc.apparmorProfile}' ignored: ${has ? "Corral does not load AppArmor profiles" : "this host has no AppArmor"}`,
    );
  }
  if (proc.selinuxLabel) warn(`process.selinuxLabel ignored: ${selinuxWhy()}`);
  return out;
}

/** config-linux.md "Mount Label" is an SELinux context for the container's mounts: warned about, like process.selinuxLabel. */
export function warnMountLabel(label: string | undefined, warn: (m: string) => void): void {
  if (label) warn(`linux.mountLabel '${label}' ignored: ${selinuxWhy()}`);
}

function selinuxWhy(): string {
  return existsSync("/sys/fs/selinux/enforce") ? "Corral does not set SELinux labels" : "this host has no SELinux";
}
