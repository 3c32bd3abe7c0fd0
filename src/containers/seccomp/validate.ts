/**
 * Validation of `config.linux.seccomp` (OCI runtime spec, config-linux.md "Seccomp") into a typed
 * model. Every error names the field, e.g. "linux.seccomp.syscalls[3].action: unknown action".
 */
import { CorralError } from "../../errors.js";
import { EPERM, MAX_ERRNO, SECCOMP_FILTER_FLAG, SECCOMP_RET } from "./layout.js";
import { ContainerError } from "../errors.js";

export const ACTIONS = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
] as const;
export type SeccompAction = (typeof ACTIONS)[number];

export const OPERATORS = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
] as const;
export type CmpOp = (typeof OPERATORS)[number];

/** The spec's list (libseccomp 2.5) plus the architectures libseccomp has added since. */
export const ARCHITECTURES = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
] as const;

export const FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: SECCOMP_FILTER_FLAG.TSYNC,
  SECCOMP_FILTER_FLAG_LOG: SECCOMP_FILTER_FLAG.LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: SECCOMP_FILTER_FLAG.SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV,
};

export interface ArgCondition {
  index: number;
  op: CmpOp;
  value: bigint;
  valueTwo: bigint;
}

export interface SyscallRule {
  /** Where the rule came from, for messages: "linux.seccomp.syscalls[3]". */
  field: string;
  names: string[];
  /** The filter's return value: SECCOMP_RET_* | errno. */
  ret: number;
  args: ArgCondition[];
}

export interface SeccompModel {
  defaultRet: number;
  architectures: string[];
  flags: string[];
  syscalls: SyscallRule[];
}

const ROOT = "linux.seccomp";
const U64_LIMIT = 1n << 64n;

function invalid(field: string, what: string): CorralError {
  return new ContainerError(
    "SECCOMP_INVALID",
    `${field}: ${what}; fix config.json (OCI runtime spec, config-linux.md "Seccomp")`,
  );
}

function describe(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "string" ? `'${v}'` : typeof v;
}

function record(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw invalid(field, `must be an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(field, `must be an array, got ${describe(v)}`);
  return v;
}

function strings(v: unknown, field: string): string[] {
  return list(v, field).map((s, i) => {
    if (typeof s !== "string" || s === "")
      throw invalid(`${field}[${i}]`, `must be a non-empty string, got ${describe(s)}`);
    return s;
  });
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string, what: string): T {
  if (typeof v !== "string") throw invalid(field, `must be a string, got ${describe(v)}`);
  if (!(allowed as readonly string[]).includes(v))
    throw invalid(field, `unknown ${what} '${v}' (known: ${allowed.join(", ")})`);
  return v as T;
}

function uint(v: unknown, field: string, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw invalid(
      field,
      `must be an integer from 0 to ${max}, got ${describe(v) === "number" ? String(v) : describe(v)}`,
    );
  }
  return v;
}

/** uint64 from JSON. Numbers above 2^53 have already lost precision in JSON.parse; bigint is exact. */
function u64(v: unknown, field: string): bigint {
  if (typeof v === "bigint" && v >= 0n && v < U64_LIMIT) return v;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 64) return BigInt(v);
  throw invalid(field, `must be an unsigned 64-bit integer, got ${typeof v === "number" ? String(v) : describe(v)}`);
}

/** Maps an action (and its optional errno) to the filter's return value. */
function actionRet(action: SeccompAction, errnoRet: number | undefined, field: string, errnoField: string): number {
  // Spec: errnoRet applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE (default EPERM); with any other action
  // "the runtime MUST print an error and fail".
  if (errnoRet !== undefined && action !== "SCMP_ACT_ERRNO" && action !== "SCMP_ACT_TRACE") {
    throw invalid(errnoField, `${action} does not take an errno; remove it or use SCMP_ACT_ERRNO`);
  }
  const data = (errnoRet ?? EPERM) & SECCOMP_RET.DATA_MASK;
  switch (action) {
    case "SCMP_ACT_KILL": // libseccomp: SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET.TRAP;
    case "SCMP_ACT_ERRNO":
      return (SECCOMP_RET.ERRNO | data) >>> 0;
    case "SCMP_ACT_TRACE":
      return (SECCOMP_RET.TRACE | data) >>> 0;
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET.ALLOW;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET.LOG;
    case "SCMP_ACT_NOTIFY":
      throw new ContainerError(
        "SECCOMP_UNSUPPORTED",
        `${field}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which Corral does not implement; use SCMP_ACT_ERRNO or SCMP_ACT_TRACE instead`,
      );
  }
}

function parseArg(v: unknown, field: string): ArgCondition {
  const a = record(v, field);
  const index = uint(a["index"], `${field}.index`, 5);
  if (a["value"] === undefined) throw invalid(`${field}.value`, "is required");
  const value = u64(a["value"], `${field}.value`);
  const valueTwo = a["valueTwo"] === undefined ? 0n : u64(a["valueTwo"], `${field}.valueTwo`);
  if (a["op"] === undefined) throw invalid(`${field}.op`, "is required");
  const op = oneOf(a["op"], OPERATORS, `${field}.op`, "operator");
  return { index, op, value, valueTwo };
}

function parseRule(v: unknown, field: string): SyscallRule {
  const r = record(v, field);
  if (r["names"] === undefined) throw invalid(`${field}.names`, "is required");
  const names = strings(r["names"], `${field}.names`);
  if (names.length === 0) throw invalid(`${field}.names`, "must name at least one syscall");
  if (r["action"] === undefined) throw invalid(`${field}.action`, "is required");
  const action = oneOf(r["action"], ACTIONS, `${field}.action`, "action");
  const errnoRet = r["errnoRet"] === undefined ? undefined : uint(r["errnoRet"], `${field}.errnoRet`, MAX_ERRNO);
  const ret = actionRet(action, errnoRet, `${field}.action`, `${field}.errnoRet`);
  const args = list(r["args"], `${field}.args`).map((a, i) => parseArg(a, `${field}.args[${i}]`));
  return { field, names, ret, args };
}

/** Validates the value of `config.linux.seccomp`. */
export function parseSeccomp(spec: unknown): SeccompModel {
  const s = record(spec, ROOT);
  if (s["defaultAction"] === undefined) throw invalid(`${ROOT}.defaultAction`, "is required");
  const defaultAction = oneOf(s["defaultAction"], ACTIONS, `${ROOT}.defaultAction`, "action");
  const defaultErrno =
    s["defaultErrnoRet"] === undefined ? undefined : uint(s["defaultErrnoRet"], `${ROOT}.defaultErrnoRet`, MAX_ERRNO);
  const defaultRet = actionRet(defaultAction, defaultErrno, `${ROOT}.defaultAction`, `${ROOT}.defaultErrnoRet`);
  const architectures = strings(s["architectures"], `${ROOT}.architectures`);
  architectures.forEach((a, i) => oneOf(a, ARCHITECTURES, `${ROOT}.architectures[${i}]`, "architecture"));
  const flags = strings(s["flags"], `${ROOT}.flags`);
  flags.forEach((f, i) => oneOf(f, Object.keys(FLAGS), `${ROOT}.flags[${i}]`, "flag"));
  const syscalls = list(s["syscalls"], `${ROOT}.syscalls`).map((r, i) => parseRule(r, `${ROOT}.syscalls[${i}]`));
  return { defaultRet, architectures, flags, syscalls };
}
