/**
 * Code generation: a validated seccomp model to a classic BPF program for x86_64.
 *
 * Program shape (seccomp_filter.rst, "Return values" and "Example"):
 *   ld arch; if != AUDIT_ARCH_X86_64 -> KILL_PROCESS        (i386 int 0x80 calls use other numbers)
 *   ld nr;   if >= X32_SYSCALL_BIT   -> KILL_PROCESS        (x32 calls would bypass x86_64 rules)
 *            if > newest named       -> ERRNO(ENOSYS)       (unless the default lets calls through)
 *   rules in config order; first match wins; rules without arguments jump to a shared `ret`
 *   ret defaultAction
 * Argument comparisons are unsigned 64-bit, done on the two 32-bit halves of args[i] (classic BPF
 * loads 32 bits at a time), high half first, as libseccomp does.
 */
import { BpfAssembler, type Label } from "./bpf.js";
import {
  AUDIT_ARCH_X86_64,
  BPF_MAXINSNS,
  ENOSYS,
  SECCOMP_DATA,
  SECCOMP_RET,
  X32_SYSCALL_BIT,
  argWordOffset,
} from "./layout.js";
import { SYSCALLS_X86_64 } from "./syscalls-x86_64.js";
import type { ArgCondition, SeccompModel, SyscallRule } from "./validate.js";
import { ContainerError } from "../errors.js";

/** Architectures whose calls reach an x86_64 process's filter but have no table here. */
const FOREIGN_ON_X86_64 = new Set(["SCMP_ARCH_X86", "SCMP_ARCH_X32"]);

export interface Generated {
  instructions: ReturnType<BpfAssembler["assemble"]>;
  warnings: string[];
}

/**
 * runc semantics for `args`: if an argument index appears more than once, each condition becomes a
 * rule of its own (OR); otherwise all conditions must hold (AND). See runc's seccomp_linux.go.
 */
function conditionGroups(rule: SyscallRule): ArgCondition[][] {
  const indices = rule.args.map((a) => a.index);
  if (new Set(indices).size !== indices.length) return rule.args.map((a) => [a]);
  return [rule.args];
}

function emitCondition(asm: BpfAssembler, c: ArgCondition, fail: Label): void {
  const hi = Number(c.value >> 32n);
  const lo = Number(c.value & 0xffffffffn);
  const pass = asm.label();
  const loadHi = (): void => asm.loadWord(argWordOffset(c.index, "hi"));
  const loadLo = (): void => asm.loadWord(argWordOffset(c.index, "lo"));
  switch (c.op) {
    case "SCMP_CMP_EQ":
      loadHi();
      asm.cond("jeq", hi, "next", fail);
      loadLo();
      asm.cond("jeq", lo, "next", fail);
      break;
    case "SCMP_CMP_NE":
      loadHi();
      asm.cond("jeq", hi, "next", pass);
      loadLo();
      asm.cond("jeq", lo, fail, "next");
      break;
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE":
      loadHi();
      asm.cond("jgt", hi, pass, "next");
      asm.cond("jeq", hi, "next", fail);
      loadLo();
      asm.cond(c.op === "SCMP_CMP_GT" ? "jgt" : "jge", lo, "next", fail);
      break;
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE":
      // x < v is !(x >= v); x <= v is !(x > v).
      loadHi();
      asm.cond("jgt", hi, fail, "next");
      asm.cond("jeq", hi, "next", pass);
      loadLo();
      asm.cond(c.op === "SCMP_CMP_LT" ? "jge" : "jgt", lo, fail, "next");
      break;
    case "SCMP_CMP_MASKED_EQ": {
      // OCI/libseccomp: value is the mask, valueTwo the expected result of (arg & mask).
      const dhi = Number(c.valueTwo >> 32n);
      const dlo = Number(c.valueTwo & 0xffffffffn);
      loadHi();
      asm.and(hi);
      asm.cond("jeq", dhi, "next", fail);
      loadLo();
      asm.and(lo);
      asm.cond("jeq", dlo, "next", fail);
      break;
    }
  }
  asm.place(pass);
}

export function generate(model: SeccompModel): Generated {
  const warnings: string[] = [];
  for (const a of model.architectures) {
    if (FOREIGN_ON_X86_64.has(a)) {
      warnings.push(
        `linux.seccomp.architectures: ${a} system calls are killed (Corral's filter has only the x86_64 table)`,
      );
    }
  }
  const asm = new BpfAssembler();
  const badArch = asm.label();
  const returns = new Map<number, Label>();
  const retLabel = (ret: number): Label => {
    let l = returns.get(ret);
    if (l === undefined) returns.set(ret, (l = asm.label()));
    return l;
  };

  asm.loadWord(SECCOMP_DATA.arch);
  asm.cond("jeq", AUDIT_ARCH_X86_64, "next", badArch);
  asm.loadWord(SECCOMP_DATA.nr);
  asm.cond("jge", X32_SYSCALL_BIT, badArch, "next");
  // Like runc's "ENOSYS stub" (libcontainer/seccomp/patchbpf): a syscall numbered above every one
  // the profile names is newer than the profile, so it fails with ENOSYS, which libc treats as
  // "not implemented, use the fallback", instead of the default action's EPERM or kill.
  const passes = (ret: number): boolean => ret === SECCOMP_RET.ALLOW || ret === SECCOMP_RET.LOG;
  if (!passes(model.defaultRet)) {
    const named = model.syscalls.flatMap((r) => r.names.map((n) => SYSCALLS_X86_64[n] ?? -1));
    const newest = Math.max(-1, ...named);
    if (newest >= 0) asm.cond("jgt", newest, retLabel((SECCOMP_RET.ERRNO | ENOSYS) >>> 0), "next");
  }

  for (const rule of model.syscalls) {
    // runc skips rules whose action is the default: with first-match order they would only shadow later rules.
    if (rule.ret === model.defaultRet) continue;
    const numbers: number[] = [];
    for (const name of rule.names) {
      const nr = SYSCALLS_X86_64[name];
      if (nr === undefined)
        warnings.push(`${rule.field}.names: unknown syscall '${name}' skipped (not in the x86_64 table)`);
      else numbers.push(nr);
    }
    if (numbers.length === 0) continue;
    if (rule.args.length === 0) {
      for (const nr of numbers) asm.cond("jeq", nr, retLabel(rule.ret), "next");
      continue;
    }
    for (const group of conditionGroups(rule)) {
      const body = asm.label();
      const skip = asm.label();
      const fail = asm.label();
      numbers.forEach((nr, i) => asm.cond("jeq", nr, body, i === numbers.length - 1 ? skip : "next"));
      asm.place(body);
      for (const c of group) emitCondition(asm, c, fail);
      asm.ret(rule.ret);
      asm.place(fail);
      asm.loadWord(SECCOMP_DATA.nr); // the comparisons clobbered A
      asm.place(skip);
    }
  }
  asm.ret(model.defaultRet);
  for (const [ret, label] of returns) {
    asm.place(label);
    asm.ret(ret);
  }
  asm.place(badArch);
  asm.ret(SECCOMP_RET.KILL_PROCESS);

  const instructions = asm.assemble();
  if (instructions.length > BPF_MAXINSNS) {
    throw new ContainerError(
      "SECCOMP_INVALID",
      `linux.seccomp: the filter needs ${instructions.length} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}; merge rules with the same action`,
    );
  }
  return { instructions, warnings };
}
