/**
 * Seccomp for Corral's OCI runtime: `config.linux.seccomp` (OCI runtime spec, config-linux.md
 * "Seccomp") compiled to the classic BPF program the kernel's seccomp(2) takes. The runtime loads
 * it (after no_new_privs, right before exec) with the flags from `seccompFilterFlags`.
 */
import { encode } from "./bpf.js";
import { generate } from "./compile.js";
import { SECCOMP_FILTER_FLAG } from "./layout.js";
import { FLAGS, parseSeccomp } from "./validate.js";
import { ContainerError } from "../errors.js";

export interface SeccompProgram {
  /** The bytes of `struct sock_filter[]`. */
  filter: Uint8Array;
  /** Number of instructions (filter.length / 8): `len` of struct sock_fprog. */
  length: number;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog). */
  flags: number;
  /** Things the runtime should show the user (unknown syscalls skipped, architectures not covered). */
  warnings: string[];
}

export interface SeccompOptions {
  /** Receives each warning; the default writes "corral: warning: ..." to stderr. */
  warn?: (message: string) => void;
}

/** Validates and compiles; throws CorralError SECCOMP_INVALID / SECCOMP_UNSUPPORTED naming the field. */
export function buildSeccomp(spec: unknown): SeccompProgram {
  if (process.arch !== "x64") {
    // The program checks AUDIT_ARCH_X86_64 and kills anything else: on another host it would kill every call.
    throw new ContainerError(
      "SECCOMP_UNSUPPORTED_ARCH",
      `linux.seccomp: Corral generates seccomp filters for x86_64 only, and this host is ${process.arch}; remove linux.seccomp or run on x86_64`,
    );
  }
  const model = parseSeccomp(spec);
  const { instructions, warnings } = generate(model);
  let flags = 0;
  for (const f of model.flags) {
    const bit = FLAGS[f] ?? 0;
    if (bit === SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV) {
      // Only meaningful with SECCOMP_FILTER_FLAG_NEW_LISTENER (the kernel refuses it alone), and
      // Corral has no SCMP_ACT_NOTIFY listener.
      warnings.push(`linux.seccomp.flags: ${f} ignored (it applies only to SCMP_ACT_NOTIFY listeners)`);
      continue;
    }
    flags |= bit;
  }
  return { filter: encode(instructions), length: instructions.length, flags, warnings };
}

/** The filter bytes (`struct sock_filter[]`, little-endian) for the value of `config.linux.seccomp`. */
export function compileSeccomp(spec: unknown, opts: SeccompOptions = {}): Uint8Array {
  const program = buildSeccomp(spec);
  const warn = opts.warn ?? ((m: string): void => void process.stderr.write(`corral: warning: ${m}\n`));
  for (const w of program.warnings) warn(w);
  return program.filter;
}

export { SYSCALLS_X86_64 } from "./syscalls-x86_64.js";
export { SECCOMP_DATA, SOCK_FILTER, SECCOMP_RET, SECCOMP_FILTER_FLAG, AUDIT_ARCH_X86_64 } from "./layout.js";
