// Checks every declared layout and constant against the host's kernel UAPI headers, through gcc.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compileC } from "../../../tests/containers-lib/cc.js";
import { DEFAULT_UNISTD_64_H, parseUnistd } from "./gen-syscalls.js";
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  BPF,
  BPF_MAXINSNS,
  ENOSYS,
  EPERM,
  SECCOMP_DATA,
  SECCOMP_FILTER_FLAG,
  SECCOMP_RET,
  SECCOMP_SET_MODE_FILTER,
  SOCK_FILTER,
  X32_SYSCALL_BIT,
  argWordOffset,
} from "./layout.js";
import { SYSCALLS_X86_64 } from "./syscalls-x86_64.js";

const PROBE = `
#include <stdio.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <asm/unistd.h>
#include <errno.h>
#define P(name, v) printf("\\"%s\\": %llu,\\n", name, (unsigned long long)(v))
int main(void) {
  struct seccomp_data d;
  printf("{\\n");
  P("data.nr", offsetof(struct seccomp_data, nr));
  P("data.arch", offsetof(struct seccomp_data, arch));
  P("data.ip", offsetof(struct seccomp_data, instruction_pointer));
  P("data.args", offsetof(struct seccomp_data, args));
  P("data.argSize", sizeof d.args[0]);
  P("data.argCount", sizeof d.args / sizeof d.args[0]);
  P("data.size", sizeof d);
  P("sf.code", offsetof(struct sock_filter, code));
  P("sf.jt", offsetof(struct sock_filter, jt));
  P("sf.jf", offsetof(struct sock_filter, jf));
  P("sf.k", offsetof(struct sock_filter, k));
  P("sf.size", sizeof(struct sock_filter));
  P("maxinsns", BPF_MAXINSNS);
  P("LD", BPF_LD); P("ALU", BPF_ALU); P("JMP", BPF_JMP); P("RET", BPF_RET); P("W", BPF_W); P("ABS", BPF_ABS);
  P("K", BPF_K); P("AND", BPF_AND); P("JA", BPF_JA); P("JEQ", BPF_JEQ); P("JGT", BPF_JGT); P("JGE", BPF_JGE);
  P("JSET", BPF_JSET);
  P("KILL_PROCESS", SECCOMP_RET_KILL_PROCESS); P("KILL_THREAD", SECCOMP_RET_KILL_THREAD);
  P("TRAP", SECCOMP_RET_TRAP); P("ERRNO", SECCOMP_RET_ERRNO); P("USER_NOTIF", SECCOMP_RET_USER_NOTIF);
  P("TRACE", SECCOMP_RET_TRACE); P("LOG", SECCOMP_RET_LOG); P("ALLOW", SECCOMP_RET_ALLOW);
  P("DATA_MASK", SECCOMP_RET_DATA);
  P("F_TSYNC", SECCOMP_FILTER_FLAG_TSYNC); P("F_LOG", SECCOMP_FILTER_FLAG_LOG);
  P("F_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW); P("F_NEW_LISTENER", SECCOMP_FILTER_FLAG_NEW_LISTENER);
  P("F_TSYNC_ESRCH", SECCOMP_FILTER_FLAG_TSYNC_ESRCH);
  P("SET_MODE_FILTER", SECCOMP_SET_MODE_FILTER);
  P("AUDIT_ARCH_X86_64", AUDIT_ARCH_X86_64); P("AUDIT_ARCH_I386", AUDIT_ARCH_I386);
  P("X32_BIT", __X32_SYSCALL_BIT);
  P("EPERM", EPERM); P("ENOSYS", ENOSYS);
  /* args[1] of a value with distinct halves, to check which word is the low one */
  d.args[1] = 0x1122334455667788ULL;
  P("lo_word", *(unsigned int *)((char *)&d + ${argWordOffset(1, "lo")}));
  P("hi_word", *(unsigned int *)((char *)&d + ${argWordOffset(1, "hi")}));
  printf("\\"end\\": 0}\\n");
  return 0;
}
`;

test("seccomp_data, sock_filter and constants match the host's C headers", () => {
  const prog = compileC("seccomp-layout", PROBE);
  try {
    const r = spawnSync(prog.exe, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual(
      [SECCOMP_DATA.nr, SECCOMP_DATA.arch, SECCOMP_DATA.instructionPointer, SECCOMP_DATA.args],
      [c["data.nr"], c["data.arch"], c["data.ip"], c["data.args"]],
    );
    assert.deepEqual(
      [SECCOMP_DATA.argSize, SECCOMP_DATA.argCount, SECCOMP_DATA.size],
      [c["data.argSize"], c["data.argCount"], c["data.size"]],
    );
    assert.deepEqual(
      [SOCK_FILTER.code, SOCK_FILTER.jt, SOCK_FILTER.jf, SOCK_FILTER.k, SOCK_FILTER.size],
      [c["sf.code"], c["sf.jt"], c["sf.jf"], c["sf.k"], c["sf.size"]],
    );
    assert.equal(BPF_MAXINSNS, c["maxinsns"]);
    for (const k of ["LD", "ALU", "JMP", "RET", "W", "ABS", "K", "AND", "JA", "JEQ", "JGT", "JGE", "JSET"] as const) {
      assert.equal(BPF[k], c[k], `BPF_${k}`);
    }
    for (const k of ["KILL_PROCESS", "KILL_THREAD", "TRAP", "ERRNO", "USER_NOTIF", "TRACE", "LOG", "ALLOW"] as const) {
      assert.equal(SECCOMP_RET[k], c[k], `SECCOMP_RET_${k}`);
    }
    assert.equal(SECCOMP_RET.DATA_MASK, c["DATA_MASK"]);
    assert.deepEqual(
      [
        SECCOMP_FILTER_FLAG.TSYNC,
        SECCOMP_FILTER_FLAG.LOG,
        SECCOMP_FILTER_FLAG.SPEC_ALLOW,
        SECCOMP_FILTER_FLAG.NEW_LISTENER,
        SECCOMP_FILTER_FLAG.TSYNC_ESRCH,
      ],
      [c["F_TSYNC"], c["F_LOG"], c["F_SPEC_ALLOW"], c["F_NEW_LISTENER"], c["F_TSYNC_ESRCH"]],
    );
    assert.equal(SECCOMP_SET_MODE_FILTER, c["SET_MODE_FILTER"]);
    assert.equal(AUDIT_ARCH_X86_64, c["AUDIT_ARCH_X86_64"]);
    assert.equal(AUDIT_ARCH_I386, c["AUDIT_ARCH_I386"]);
    assert.equal(X32_SYSCALL_BIT, c["X32_BIT"]);
    assert.deepEqual([EPERM, ENOSYS], [c["EPERM"], c["ENOSYS"]]);
    assert.equal(c["lo_word"], 0x55667788);
    assert.equal(c["hi_word"], 0x11223344);
  } finally {
    prog.cleanup();
  }
});

test("the committed x86_64 syscall table is what the generator reads from the host header", () => {
  const fromHeader = Object.fromEntries(parseUnistd(readFileSync(DEFAULT_UNISTD_64_H, "utf8")));
  assert.ok(Object.keys(fromHeader).length > 300);
  assert.deepEqual({ ...SYSCALLS_X86_64 }, fromHeader);
});
