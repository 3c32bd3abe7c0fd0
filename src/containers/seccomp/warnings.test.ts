import { strict as assert } from "node:assert";
import { test } from "node:test";
import { buildSeccomp } from "./index.js";
import { summarizeSeccompWarnings } from "./warnings.js";

// A profile shaped like the engines' defaults: names of other architectures next to real ones.
const profile = {
  defaultAction: "SCMP_ACT_ERRNO",
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  syscalls: [
    {
      names: ["read", "chown32", "_llseek", "mmap2", "fcntl64", "stat64", "waitpid", "socketcall", "write"],
      action: "SCMP_ACT_ALLOW",
    },
    { names: ["stime"], action: "SCMP_ACT_ALLOW" },
  ],
};

test("unknown syscall names become one line with a count, architectures one line", () => {
  const raw = buildSeccomp(profile).warnings;
  assert.ok(raw.length >= 10, "the compiler reports each name");
  const lines = summarizeSeccompWarnings(raw);
  assert.equal(lines.length, 2);
  const unknown = lines.find((l) => l.includes("syscall names")) ?? "";
  assert.match(
    unknown,
    /^linux\.seccomp\.syscalls: 8 syscall names not in the x86_64 table skipped \(chown32, _llseek, mmap2, fcntl64, stat64, waitpid, and 2 more\)/,
  );
  assert.match(
    lines.find((l) => l.includes("architectures")) ?? "",
    /SCMP_ARCH_X86, SCMP_ARCH_X32 system calls are killed/,
  );
});

test("one unknown name keeps its own message; other warnings pass unchanged", () => {
  const lines = summarizeSeccompWarnings([
    "something else",
    "linux.seccomp.syscalls[3].names: unknown syscall 'nice' skipped (not in the x86_64 table)",
  ]);
  assert.deepEqual(lines, [
    "something else",
    "linux.seccomp.syscalls: unknown syscall 'nice' skipped (not in the x86_64 table)",
  ]);
});
