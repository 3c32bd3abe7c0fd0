// Corral's default profile: every name is an x86_64 call, and it compiles without warnings.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSeccomp } from "./index.js";
import { defaultSeccompProfile, unknownProfileNames } from "./profile.js";

test("the default profile names only calls of the x86_64 table and compiles cleanly", () => {
  const p = defaultSeccompProfile();
  assert.deepEqual(unknownProfileNames(p), []);
  const prog = buildSeccomp(p);
  assert.deepEqual(prog.warnings, []);
  assert.ok(prog.length > 0);
});

test("the calls the profile exists to stop are not in its allowlist", () => {
  const allowed = new Set(
    defaultSeccompProfile()
      .syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && r.args === undefined)
      .flatMap((r) => r.names),
  );
  for (const n of [
    "keyctl",
    "add_key",
    "request_key",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "init_module",
    "open_by_handle_at",
    "clone",
    "clone3",
    "personality",
    "socket",
  ])
    assert.equal(allowed.has(n), false, `${n} is not allowed without conditions`);
});
