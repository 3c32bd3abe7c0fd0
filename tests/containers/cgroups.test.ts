import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { detectLayout } from "../../src/containers/cgroups/index.js";
import { CgroupV2 } from "../../src/containers/cgroups/v2.js";
import { cgRmdir } from "../../src/containers/cgroups/fsutil.js";
import { Runtime } from "../../src/containers/runtime/runtime.js";
import { fixture, leftovers, leftoversUnder, runCapture, until, type Fixture, type Leftovers } from "./fixtures.js";

// Real cgroup limits on the host kernel (config-linux.md "Control groups"): each test puts a
// busybox workload against a limit and reads what the kernel did.
let f: Fixture;
let rt: Runtime;
let start: Leftovers;
before(() => {
  f = fixture();
  rt = new Runtime({ root: join(f.dir, "state"), warn: () => undefined });
  start = leftovers();
});
after(() => {
  assert.deepEqual(leftovers(), start, "nothing left behind");
  f.cleanup();
});

/**
 * Most tests here read cgroup v1 files (pids.events, cpu.shares...): on a host that runs the
 * controller on cgroup v2 they skip, saying so, instead of failing on a missing file.
 */
function needsV1(t: TestContext, ...controllers: string[]): boolean {
  const l = detectLayout();
  const missing = controllers.filter((c) => !l.v1.some((h) => h.controllers.includes(c)));
  if (missing.length === 0) return true;
  t.skip(`this host has no cgroup v1 hierarchy for ${missing.join(", ")} (the test reads v1 files)`);
  return false;
}

/** The weight files a new blkio cgroup gets: CFQ's blkio.weight, BFQ's blkio.bfq.weight, or none (mq-deadline, kyber). */
function blkioWeightFiles(): string[] {
  const h = detectLayout().v1.find((x) => x.controllers.includes("blkio"));
  if (!h) return [];
  // BFQ's files exist only below the root (CFTYPE_NOT_ON_ROOT), so look in a fresh child.
  const probe = join(h.mount, `corral-probe-${process.pid}`);
  mkdirSync(probe);
  try {
    return ["blkio.weight", "blkio.bfq.weight"].filter((n) => existsSync(join(probe, n)));
  } finally {
    rmdirSync(probe);
  }
}

/** Checked by name: host-wide counts move while other work on the machine runs containers. */
const NONE = { mounts: [], cgroups: [], processes: [] };

const resources = (r: Record<string, unknown>) => (c: Record<string, unknown>) => {
  (c["linux"] as Record<string, unknown>)["resources"] = r;
};

test("the layout of this host is detected (v1 controllers, cgroup2 mount)", () => {
  const l = detectLayout();
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  assert.equal(l.v1.length > 0, / - cgroup /.test(mounts));
  assert.equal(l.v2 !== undefined, / - cgroup2 /.test(mounts));
  if (l.v1.some((h) => h.controllers.includes("memory"))) assert.notEqual(l.mode, "unified");
});

test("a memory hog is OOM-killed at its limit while another container goes on", async () => {
  const other = await rt.run("calm", { bundle: f.bundle("calm", ["sleep", "30"]), stdio: "ignore" });
  const r = await runCapture(
    rt,
    "hog",
    f.bundle("hog", ["sh", "-c", "tail /dev/zero"], resources({ memory: { limit: 32 << 20, swap: 32 << 20 } })),
  );
  assert.equal(r.code, 137, "killed by SIGKILL");
  assert.equal(rt.state("calm").status, "running");
  assert.ok(existsSync(`/proc/${other.pid}`));
  await rt.delete("calm", true);
});

test("the OOM kill is counted in the container's cgroup", async () => {
  const c = await rt.run("hog2", {
    bundle: f.bundle(
      "hog2",
      ["sh", "-c", "tail /dev/zero"],
      resources({ memory: { limit: 16 << 20, swap: 16 << 20 } }),
    ),
    stdio: "ignore",
  });
  const code = await c.exited;
  const cg = rt.cgroup("hog2");
  assert.equal(code, 137);
  assert.ok(cg.oomKills() >= 1);
  assert.ok(cg.stats().memory.usage.max > 0);
  await rt.delete("hog2");
});

test("a fork bomb stops at pids.max", async (t) => {
  if (!needsV1(t, "pids")) return;
  // The container's shell outlives the checks (it is deleted with force below): with a short
  // sleep, a loaded machine could take longer than it to reach 30 pids, and the shell was gone.
  const c = await rt.run("bomb", {
    bundle: f.bundle("bomb", ["sh", "-c", "b() { b | b & }; b; sleep 60"], resources({ pids: { limit: 32 } })),
    stdio: "ignore",
  });
  const cg = rt.cgroup("bomb");
  await until(() => cg.stats().pids.current >= 30);
  for (let i = 0; i < 20; i++) {
    assert.ok(cg.pids().length <= 32);
    await new Promise((r) => setTimeout(r, 10));
  }
  const events = readFileSync(join(cg.dirs().find((d) => d.includes("/pids/")) ?? "", "pids.events"), "utf8");
  assert.match(events, /max [1-9]/, "the kernel refused forks");
  assert.equal(existsSync(`/proc/${c.pid}`), true);
  await rt.delete("bomb", true);
});

test("a CPU hog with a 0.2 quota gets about 20% of a core, not more than 25%", async () => {
  await rt.run("cpu", {
    bundle: f.bundle("cpu", ["sh", "-c", "while :; do :; done"], resources({ cpu: { quota: 20000, period: 100000 } })),
    stdio: "ignore",
  });
  const cg = rt.cgroup("cpu");
  await new Promise((r) => setTimeout(r, 300));
  const u0 = cg.stats().cpu.usage.total;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 2000));
  const share = (cg.stats().cpu.usage.total - u0) / Number(process.hrtime.bigint() - t0);
  await rt.delete("cpu", true);
  assert.ok(share <= 0.25, `CPU share ${share.toFixed(3)}`);
  assert.ok(share >= 0.1, `CPU share ${share.toFixed(3)}`);
});

test("pause freezes every process and resume thaws them", async () => {
  const c = await rt.run("frz", { bundle: f.bundle("frz", ["sleep", "30"]), stdio: "ignore" });
  await rt.pause("frz");
  assert.equal(rt.state("frz").status, "paused");
  await rt.resume("frz");
  assert.equal(rt.state("frz").status, "running");
  assert.ok(existsSync(`/proc/${c.pid}`));
  await rt.delete("frz", true);
});

test("limits land in the kernel's files: shares, cpuset, reservation, block I/O throttling", async (t) => {
  if (!needsV1(t, "cpu", "cpuset", "memory", "blkio")) return;
  const dev =
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === "/")
      ?.split(" ")[2] ?? "0:0";
  const [maj, min] = dev.split(":").map(Number);
  await rt.run("lim", {
    bundle: f.bundle(
      "lim",
      ["sleep", "30"],
      resources({
        cpu: { shares: 512, cpus: "0" },
        memory: { limit: 64 << 20, reservation: 32 << 20 },
        blockIO: { throttleWriteBpsDevice: [{ major: maj, minor: min, rate: 1048576 }] },
      }),
    ),
    stdio: "ignore",
  });
  const dirs = rt.cgroup("lim").dirs();
  const read = (ctl: string, file: string) =>
    readFileSync(join(dirs.find((d) => d.includes(`/${ctl}/`)) ?? "", file), "utf8").trim();
  assert.equal(read("cpu", "cpu.shares"), "512");
  assert.equal(read("cpuset", "cpuset.cpus"), "0");
  assert.equal(read("memory", "memory.soft_limit_in_bytes"), String(32 << 20));
  if (maj !== 0) assert.equal(read("blkio", "blkio.throttle.write_bps_device"), `${maj}:${min} 1048576`);
  await rt.delete("lim", true);
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed on delete`);
});

test("a limit the kernel refuses fails create with a clear error and leaves nothing", async () => {
  await assert.rejects(
    rt.run("bad", { bundle: f.bundle("bad", ["true"], resources({ cpu: { cpus: "64-70" } })), stdio: "ignore" }),
    { code: "CGROUP_LIMIT_REFUSED" },
  );
  assert.deepEqual(leftoversUnder(f.dir, "bad"), NONE);
  assert.throws(() => rt.state("bad"), { code: "OCI_NOT_FOUND" });
});

test("a missing cgroup controller is reported as such", async (t) => {
  if (!needsV1(t, "pids")) return;
  // On a host whose controllers are v1 hierarchies, cgroup2 files cannot be set.
  if (detectLayout().mode !== "unified")
    await assert.rejects(
      rt.run("u", {
        bundle: f.bundle("u", ["true"], resources({ unified: { "memory.high": "1G" } })),
        stdio: "ignore",
      }),
      { code: "CGROUP_CONTROLLER_MISSING" },
    );
  // A host without a pids hierarchy (same kernel files, the pids mount left out of the layout).
  const l = detectLayout();
  const { CgroupV1 } = await import("../../src/containers/cgroups/v1.js");
  const noPids = new CgroupV1({ ...l, v1: l.v1.filter((h) => !h.controllers.includes("pids")) }, "/corral-nopids");
  assert.throws(() => noPids.apply({ devices: [], unified: {}, hugepageLimits: [], pids: { limit: 10 } }, []), {
    code: "CGROUP_CONTROLLER_MISSING",
  });
  assert.deepEqual(leftoversUnder(f.dir, "u"), NONE);
});

test("block I/O weight goes to blkio.weight or BFQ's blkio.bfq.weight", async (t) => {
  if (!needsV1(t, "blkio")) return;
  const files = blkioWeightFiles();
  if (files.length === 0)
    return t.skip(
      "no I/O scheduler with weights here: neither CFQ's blkio.weight nor BFQ's blkio.bfq.weight exists (mq-deadline or kyber)",
    );
  await rt.run("bw", {
    bundle: f.bundle("bw", ["sleep", "30"], resources({ blockIO: { weight: 300 } })),
    stdio: "ignore",
  });
  const d =
    rt
      .cgroup("bw")
      .dirs()
      .find((x) => x.includes("/blkio/")) ?? "";
  assert.match(readFileSync(join(d, files[0] ?? ""), "utf8"), /300/);
  await rt.delete("bw", true);
});

test("where no scheduler offers weights, a block I/O weight is refused with a clear error", async (t) => {
  if (!needsV1(t, "blkio")) return;
  if (blkioWeightFiles().length > 0)
    return t.skip("this host's I/O scheduler takes weights (blkio.weight or blkio.bfq.weight)");
  await assert.rejects(
    rt.run("bw0", { bundle: f.bundle("bw0", ["true"], resources({ blockIO: { weight: 300 } })), stdio: "ignore" }),
    {
      code: "CGROUP_CONTROLLER_MISSING",
      message: /linux\.resources\.blockIO\.weight: .*neither blkio\.weight \(CFQ\) nor blkio\.bfq\.weight \(BFQ\)/,
    },
  );
  assert.deepEqual(leftoversUnder(f.dir, "bw0"), NONE);
});

test("stats report CPU, memory and pids usage", async () => {
  await rt.run("st", {
    bundle: f.bundle("st", ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30"]),
    stdio: "ignore",
  });
  await new Promise((r) => setTimeout(r, 300));
  const s = rt.cgroup("st").stats();
  assert.ok(s.cpu.usage.total > 0);
  assert.ok(s.memory.usage.usage > 0);
  assert.equal(s.pids.current, rt.ps("st").length);
  await rt.delete("st", true);
});

test("cgroup v2 (the host's cgroup2 mount): create, join, freeze, thaw, remove", async (t) => {
  const l = detectLayout();
  if (!l.v2) return t.skip("no cgroup2 mount");
  const cg = new CgroupV2(l, "/corral-v2-test");
  cg.create();
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(cg.procsFiles()[0] ?? "", String(child.pid));
    assert.deepEqual(cg.pids(), [child.pid]);
    await cg.freeze();
    assert.equal(cg.frozen(), true);
    assert.match(readFileSync(join(cg.dirs()[0] ?? "", "cgroup.events"), "utf8"), /frozen 1/);
    await cg.thaw();
    assert.equal(cg.frozen(), false);
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    await cgRmdir(cg.dirs()[0] ?? "");
  }
  assert.equal(existsSync(cg.dirs()[0] ?? "/nonexistent"), false);
});
