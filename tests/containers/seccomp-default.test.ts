import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { constants } from "node:os";
import { compileC, type CProgram } from "../containers-lib/cc.js";
import { fixture, leftoversUnder, type Fixture } from "./fixtures.js";

// `corral container run` puts containers under Corral's default seccomp profile (issue 14 item 8):
// a static probe inside the container makes the calls and prints the errno each one got.
const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const { EPERM, ENOSYS } = constants.errno;

const PROBE = `
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static void show(const char *name, long r) { printf("%s %d\\n", name, r < 0 ? errno : 0); }
static long clone_user(void) {
  long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  return r;
}
int main(void) {
  show("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  show("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -2 /* process keyring */));
  show("personality_query", personality(0xffffffff));
  show("personality_norandom", personality(ADDR_NO_RANDOMIZE));
  show("unshare_user", unshare(CLONE_NEWUSER));
  show("clone_newuser", clone_user());
  show("clone3", syscall(SYS_clone3, 0, 0));
  show("io_uring_setup", syscall(SYS_io_uring_setup, 1, 0));
  show("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
  show("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
  show("getpid", getpid());
  return 0;
}
`;

let f: Fixture;
let env: NodeJS.ProcessEnv;
let probe: CProgram;
const PREFIX = `sd${process.pid}-`;
let n = 0;
const corral = (...a: string[]) =>
  spawnSync(process.execPath, [CORRAL, "container", ...a], {
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
/** `run --rm` under a name this file can find its leftovers by. */
const runRm = (...a: string[]) => corral("run", "--rm", "--name", `${PREFIX}${n++}`, ...a);

/** The probe's lines as { call: errno } (0: the call worked). */
function probeIn(...flags: string[]): Record<string, number> {
  const r = runRm(...flags, f.rootfs, "--", "/bin/probe");
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => [l.split(" ")[0] ?? "", Number(l.split(" ")[1])]),
  );
}

before(() => {
  f = fixture();
  env = { ...process.env, CORRAL_STATE_DIR: join(f.dir, "corral") };
  probe = compileC("seccomp-probe", PROBE, ["-static"]);
  copyFileSync(probe.exe, join(f.rootfs, "bin", "probe"));
});
after(() => {
  const left = leftoversUnder(f.dir, PREFIX);
  probe.cleanup();
  if (left.mounts.length === 0) f.cleanup(); // never delete through a mount left behind
  assert.deepEqual(left, { mounts: [], cgroups: [], processes: [] }, "nothing left behind");
});

test("by default a container is under a seccomp filter: Seccomp 2 in its status", () => {
  const r = runRm(f.rootfs, "--", "grep", "^Seccomp:", "/proc/self/status");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Seccomp:\s+2$/m);
});

test("the default profile denies keyrings, new namespaces and odd personalities; ordinary calls work", () => {
  const got = probeIn();
  assert.deepEqual(got, {
    keyctl: EPERM,
    add_key: EPERM,
    personality_query: 0,
    personality_norandom: EPERM,
    unshare_user: EPERM,
    clone_newuser: EPERM,
    clone3: ENOSYS,
    io_uring_setup: ENOSYS,
    socket_vsock: EPERM,
    socket_inet: 0,
    getpid: 0,
  });
});

test("ordinary programs still work: busybox sh, ls, ps, a TCP socket on loopback", () => {
  // On the bridge, for a loopback that is up. The server answers and closes (-e); the client retries until the server listens: no guess
  // at how long that takes.
  const sh =
    "ls / | grep -c '^bin$'; ps > /dev/null && echo ps-ok; nc -l -p 7000 -e echo hi & " +
    "until nc 127.0.0.1 7000 < /dev/null; do sleep 0.1; done 2>/dev/null; wait";
  const r = runRm("--net", "bridge", f.rootfs, "--", "sh", "-c", sh);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["1", "ps-ok", "hi"]);
});

test("exec'd processes get the container's filter too", () => {
  const run = corral("run", "-d", "--name", `${PREFIX}x`, f.rootfs, "--", "sleep", "60");
  assert.equal(run.status, 0, run.stderr);
  try {
    const ex = corral("exec", `${PREFIX}x`, "--", "grep", "^Seccomp:", "/proc/self/status");
    assert.match(ex.stdout, /^Seccomp:\s+2$/m, ex.stderr);
  } finally {
    assert.equal(corral("rm", "-f", `${PREFIX}x`).status, 0);
  }
});

test("--security-opt seccomp=unconfined: no filter, and the calls reach the kernel", () => {
  const r = runRm("--security-opt", "seccomp=unconfined", f.rootfs, "--", "grep", "^Seccomp:", "/proc/self/status");
  assert.match(r.stdout, /^Seccomp:\s+0$/m, r.stderr);
  const got = probeIn("--security-opt", "seccomp=unconfined");
  assert.equal(got["unshare_user"], 0);
  assert.equal(got["personality_norandom"], 0);
});

test("--security-opt seccomp=FILE uses that profile; bad files and options are refused in one line", () => {
  const file = join(f.dir, "profile.json");
  writeFileSync(
    file,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["keyctl"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS }],
    }),
  );
  const got = probeIn("--security-opt", `seccomp=${file}`);
  assert.equal(got["keyctl"], ENOSYS);
  assert.equal(got["unshare_user"], 0);
  const bad = (opt: string, message: RegExp) => {
    const r = runRm("--security-opt", opt, f.rootfs, "--", "true");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  };
  writeFileSync(file, "{");
  bad(`seccomp=${file}`, /profile .* is not JSON/);
  writeFileSync(
    file,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } }],
    }),
  );
  bad(`seccomp=${file}`, /engine 'includes'\/'excludes' conditions/);
  bad(`seccomp=${join(f.dir, "none.json")}`, /cannot be read \(ENOENT\)/);
  bad("label=disable", /--security-opt 'label=disable' is not supported/);
});
