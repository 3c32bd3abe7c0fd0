// Validation of config.linux.seccomp: every bad input gets a CorralError naming the field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CorralError } from "../../errors.js";
import { decode } from "./bpf.js";
import { buildSeccomp, compileSeccomp } from "./index.js";
import { BPF, SECCOMP_FILTER_FLAG, SOCK_FILTER } from "./layout.js";

function rejects(spec: unknown, code: string, message: RegExp): void {
  assert.throws(
    () => buildSeccomp(spec),
    (e: unknown) => e instanceof CorralError && e.code === code && message.test(e.message) && !e.message.includes("\n"),
  );
}

const ok = { defaultAction: "SCMP_ACT_ALLOW" };
const rule = (r: Record<string, unknown>): unknown => ({
  ...ok,
  syscalls: [{ names: ["getpid"], action: "SCMP_ACT_ERRNO" }, r],
});

test("invalid configurations name the field", () => {
  rejects(null, "SECCOMP_INVALID", /^linux\.seccomp: must be an object/);
  rejects({}, "SECCOMP_INVALID", /^linux\.seccomp\.defaultAction: is required/);
  rejects(
    { defaultAction: "SCMP_ACT_FOO" },
    "SECCOMP_INVALID",
    /^linux\.seccomp\.defaultAction: unknown action 'SCMP_ACT_FOO'/,
  );
  rejects(
    rule({ names: ["x"], action: "SCMP_ACT_FOO" }),
    "SECCOMP_INVALID",
    /^linux\.seccomp\.syscalls\[1\]\.action: unknown action 'SCMP_ACT_FOO'/,
  );
  rejects(
    rule({ names: [], action: "SCMP_ACT_ERRNO" }),
    "SECCOMP_INVALID",
    /syscalls\[1\]\.names: must name at least one/,
  );
  rejects(
    rule({ names: [3], action: "SCMP_ACT_ERRNO" }),
    "SECCOMP_INVALID",
    /syscalls\[1\]\.names\[0\]: must be a non-empty string/,
  );
  rejects(rule({ action: "SCMP_ACT_ERRNO" }), "SECCOMP_INVALID", /syscalls\[1\]\.names: is required/);
  rejects(
    rule({ names: ["x"], action: "SCMP_ACT_ALLOW", errnoRet: 1 }),
    "SECCOMP_INVALID",
    /syscalls\[1\]\.errnoRet: SCMP_ACT_ALLOW does not take an errno/,
  );
  rejects(
    rule({ names: ["x"], action: "SCMP_ACT_ERRNO", errnoRet: -1 }),
    "SECCOMP_INVALID",
    /syscalls\[1\]\.errnoRet: must be an integer from 0 to 4095/,
  );
  rejects(
    { defaultAction: "SCMP_ACT_KILL", defaultErrnoRet: 1 },
    "SECCOMP_INVALID",
    /defaultErrnoRet: SCMP_ACT_KILL does not take an errno/,
  );
  const arg = (a: Record<string, unknown>): unknown => rule({ names: ["x"], action: "SCMP_ACT_ERRNO", args: [a] });
  rejects(
    arg({ index: 6, value: 1, op: "SCMP_CMP_EQ" }),
    "SECCOMP_INVALID",
    /syscalls\[1\]\.args\[0\]\.index: must be an integer from 0 to 5/,
  );
  rejects(
    arg({ index: 0, value: -1, op: "SCMP_CMP_EQ" }),
    "SECCOMP_INVALID",
    /args\[0\]\.value: must be an unsigned 64-bit integer/,
  );
  rejects(arg({ index: 0, op: "SCMP_CMP_EQ" }), "SECCOMP_INVALID", /args\[0\]\.value: is required/);
  rejects(
    arg({ index: 0, value: 1, op: "SCMP_CMP_XOR" }),
    "SECCOMP_INVALID",
    /args\[0\]\.op: unknown operator 'SCMP_CMP_XOR'/,
  );
  rejects(
    { ...ok, architectures: ["SCMP_ARCH_Z80"] },
    "SECCOMP_INVALID",
    /architectures\[0\]: unknown architecture 'SCMP_ARCH_Z80'/,
  );
  rejects({ ...ok, flags: ["SECCOMP_FILTER_FLAG_FAST"] }, "SECCOMP_INVALID", /flags\[0\]: unknown flag/);
  rejects({ ...ok, syscalls: {} }, "SECCOMP_INVALID", /linux\.seccomp\.syscalls: must be an array/);
});

test("SCMP_ACT_NOTIFY is refused clearly", () => {
  rejects(
    rule({ names: ["x"], action: "SCMP_ACT_NOTIFY" }),
    "SECCOMP_UNSUPPORTED",
    /syscalls\[1\]\.action: SCMP_ACT_NOTIFY needs a seccomp agent/,
  );
});

test("the output is whole struct sock_filter records ending in a return", () => {
  const bytes = compileSeccomp(
    { ...ok, syscalls: [{ names: ["getpid"], action: "SCMP_ACT_ERRNO" }] },
    { warn: () => {} },
  );
  assert.equal(bytes.length % SOCK_FILTER.size, 0);
  const insns = decode(bytes);
  assert.equal((insns.at(-1)?.code ?? 0) & 0x07, BPF.RET);
  for (const i of insns) assert.ok(i.jt <= 255 && i.jf <= 255);
});

test("flags map to SECCOMP_FILTER_FLAG_* bits; WAIT_KILLABLE_RECV is dropped with a warning", () => {
  const p = buildSeccomp({
    ...ok,
    flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
  });
  assert.equal(p.flags, SECCOMP_FILTER_FLAG.LOG | SECCOMP_FILTER_FLAG.SPEC_ALLOW);
  assert.equal(p.warnings.length, 1);
});

test("x86 and x32 in architectures are accepted with a warning that their calls are killed", () => {
  const p = buildSeccomp({ ...ok, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] });
  assert.equal(p.warnings.length, 2);
});
