import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Runtime } from "../../src/containers/runtime/runtime.js";
import { fixture, leftovers, runCapture, until, type Fixture, type Leftovers } from "./fixtures.js";

// Process security settings applied by the kernel (config.md "Linux Process", config-linux.md
// "Seccomp"), read back from /proc inside and outside the container.
let f: Fixture;
let rt: Runtime;
let start: Leftovers;
const warnings: string[] = [];
before(() => {
  f = fixture();
  rt = new Runtime({ root: join(f.dir, "state"), warn: (m) => warnings.push(m) });
  start = leftovers();
});
after(() => {
  assert.deepEqual(leftovers(), start, "nothing left behind");
  f.cleanup();
});

const proc = (patch: (p: Record<string, unknown>) => void) => (c: Record<string, unknown>) =>
  patch(c["process"] as Record<string, unknown>);

test("a syscall denied by seccomp returns the configured errno (EPERM)", async () => {
  const r = await runCapture(
    rt,
    "sec",
    f.bundle("sec", ["sh", "-c", "mkdir /tmp/x 2>&1; echo still-running"], (c) => {
      (c["root"] as Record<string, unknown>)["readonly"] = false;
      (c["linux"] as Record<string, unknown>)["seccomp"] = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    }),
  );
  assert.match(r.out, /Operation not permitted/);
  assert.match(r.out, /still-running/);
});

test("capability sets from the config are the process's sets", async () => {
  const r = await runCapture(
    rt,
    "caps",
    f.bundle(
      "caps",
      ["grep", "^Cap", "/proc/self/status"],
      proc((p) => {
        p["capabilities"] = {
          bounding: ["CAP_CHOWN", "CAP_KILL"],
          effective: ["CAP_KILL"],
          permitted: ["CAP_CHOWN", "CAP_KILL"],
          inheritable: ["CAP_KILL"],
          ambient: ["CAP_KILL"],
        };
      }),
    ),
  );
  const v = Object.fromEntries(
    r.out
      .trim()
      .split("\n")
      .map((l) => l.split(/:\s+/)),
  );
  assert.equal(BigInt("0x" + v["CapBnd"]), (1n << 0n) | (1n << 5n));
  assert.equal(BigInt("0x" + v["CapPrm"]), (1n << 0n) | (1n << 5n), "grep runs with permitted = ambient + ...");
  assert.equal(BigInt("0x" + v["CapAmb"]), 1n << 5n);
  assert.equal(BigInt("0x" + v["CapInh"]), 1n << 5n);
});

test("no_new_privs, rlimits, user and groups, umask", async () => {
  const r = await runCapture(
    rt,
    "nnp",
    f.bundle(
      "nnp",
      ["sh", "-c", "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn; id -u; id -G; umask"],
      proc((p) => {
        p["noNewPrivileges"] = true;
        p["rlimits"] = [{ type: "RLIMIT_NOFILE", soft: 123, hard: 456 }];
        p["user"] = { uid: 65534, gid: 65534, additionalGids: [5], umask: 0o027 };
      }),
    ),
  );
  assert.deepEqual(
    r.out
      .trim()
      .split("\n")
      .map((l) => l.replace(/\s+/g, " ")),
    ["NoNewPrivs: 1", "123", "456", "65534", "65534 5", "0027"],
  );
});

test("a read-only rootfs refuses writes; masked and read-only paths hide the host's", async () => {
  const r = await runCapture(
    rt,
    "ro",
    f.bundle("ro", [
      "sh",
      "-c",
      "touch /x 2>&1; wc -c < /proc/keys; echo x 2>&1 > /proc/sys/kernel/domainname; ls /sys/firmware | wc -l",
    ]),
  );
  const lines = r.out.trim().split("\n");
  assert.match(lines[0] ?? "", /Read-only file system/);
  assert.equal(lines[1]?.trim(), "0", "/proc/keys is /dev/null");
  assert.match(lines[2] ?? "", /Read-only file system/);
  assert.equal(lines[3]?.trim(), "0", "/sys/firmware is an empty tmpfs");
});

test("oom_score_adj is set on the container's process", async () => {
  const c = await rt.run("oom", {
    bundle: f.bundle(
      "oom",
      ["sleep", "30"],
      proc((p) => {
        p["oomScoreAdj"] = 345;
      }),
    ),
    stdio: "ignore",
  });
  assert.equal(readFileSync(`/proc/${c.pid}/oom_score_adj`, "utf8").trim(), "345");
  await rt.delete("oom", true);
});

test("an AppArmor profile is ignored with a warning", async () => {
  warnings.length = 0;
  const r = await runCapture(
    rt,
    "aa",
    f.bundle(
      "aa",
      ["true"],
      proc((p) => {
        p["apparmorProfile"] = "corral-default";
      }),
    ),
  );
  assert.equal(r.code, 0);
  assert.ok(
    warnings.some((w) => w.includes("apparmorProfile")),
    warnings.join("; "),
  );
});

test("an unknown capability is refused, naming the field", async () => {
  await assert.rejects(
    rt.run("badcap", {
      bundle: f.bundle(
        "badcap",
        ["true"],
        proc((p) => {
          p["capabilities"] = { bounding: ["CAP_FLY"] };
        }),
      ),
      stdio: "ignore",
    }),
    (e: Error) => e.message.includes("process.capabilities.bounding[0]"),
  );
  assert.equal(await until(() => rt.list().length === 0), true);
});
