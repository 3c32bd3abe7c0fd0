import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  DAEMON_MARKER,
  VM_FILES,
  checkName,
  claimName,
  listEnded,
  listVms,
  publish,
  readExit,
  removeVm,
  requireVm,
  vmActivity,
  vmDir,
  vmProcessEnv,
} from "./state.js";

const home = mkdtempSync(join(tmpdir(), "corral-vmstate-"));
after(() => rmSync(home, { recursive: true, force: true }));

const rec = (name: string, pid: number) => ({ name, pid, cpus: 1, memory: 2 ** 29, startedAt: Date.now() });

test("names are validated", () => {
  checkName("web-1.test_2");
  for (const bad of ["", "-x", "a/b", "..", "a b", "x".repeat(64)])
    assert.throws(() => checkName(bad), { code: "BAD_VM_NAME" }, bad);
});

test("a live VM process holds its name; a dead one's state is cleaned", async () => {
  // A real process whose argv looks like a VM process's, then one that has exited.
  const live = spawn("sh", ["-c", "sleep 30; :", DAEMON_MARKER, "alive"]);
  const dead = spawnSync("true").pid!;
  after(() => live.kill());
  while (!readFileSync(`/proc/${live.pid!}/cmdline`, "utf8").includes(DAEMON_MARKER))
    await new Promise((r) => setTimeout(r, 10));
  claimName(rec("alive", 0), home);
  assert.throws(
    () => claimName(rec("alive", 0), home),
    { code: "VM_NAME_IN_USE" },
    "a claim in progress holds the name",
  );
  publish(rec("alive", live.pid!), home);
  assert.throws(() => claimName(rec("alive", 0), home), { code: "VM_NAME_IN_USE" });
  assert.equal(requireVm("alive", home).pid, live.pid);

  claimName(rec("crashed", 0), home);
  publish(rec("crashed", dead), home);
  writeFileSync(join(vmDir("crashed", home), VM_FILES.socket), "");
  assert.deepEqual(
    listVms(home).map((v) => v.name),
    ["alive"],
  );
  assert.equal(existsSync(join(vmDir("crashed", home), VM_FILES.record)), false);
  assert.equal(existsSync(join(vmDir("crashed", home), VM_FILES.socket)), false);
  assert.throws(() => requireVm("crashed", home), { code: "VM_NOT_RUNNING" });
  // The name is free again.
  claimName(rec("crashed", 0), home);

  // A pid reused by an unrelated process does not count as the VM.
  claimName(rec("reused", 0), home);
  publish(rec("reused", live.pid!), home);
  assert.equal(
    listVms(home).some((v) => v.name === "reused"),
    false,
  );
});

test("a crash is recorded as how the VM ended; rm refuses a VM being started and keeps its claim", () => {
  const dead = spawnSync("true").pid!;
  claimName(rec("gone", 0), home);
  publish(rec("gone", dead), home);
  assert.deepEqual(
    listVms(home)
      .map((v) => v.name)
      .includes("gone"),
    false,
  );
  assert.equal(readExit("gone", home)?.how, "crashed");
  assert.ok(listEnded(home).some((e) => e.name === "gone"));
  removeVm("gone", home);
  assert.equal(existsSync(vmDir("gone", home)), false);

  claimName(rec("starting", 0), home);
  assert.equal(vmActivity("starting", home), "starting");
  assert.throws(() => removeVm("starting", home), { code: "VM_RUNNING" });
  assert.equal(existsSync(join(vmDir("starting", home), VM_FILES.record)), true, "the claim stays");
  assert.throws(() => removeVm("never", home), { code: "VM_NOT_FOUND" });
});

test("a VM process's environment: CORRAL_HOME set, NODE_EXTRA_CA_CERTS left out, the caller's untouched", () => {
  const caller = { PATH: "/usr/bin", NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt", CORRAL_HOME: "/old" };
  const env = vmProcessEnv("/new", caller);
  assert.deepEqual(env, { PATH: "/usr/bin", CORRAL_HOME: "/new" });
  assert.equal(caller.NODE_EXTRA_CA_CERTS, "/etc/ssl/certs/ca-certificates.crt");
  assert.equal(caller.CORRAL_HOME, "/old");
});
