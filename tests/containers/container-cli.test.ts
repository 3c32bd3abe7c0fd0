import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { fixture, leftovers, type Fixture, type Leftovers } from "./fixtures.js";

// `corral container` end to end: images shared through overlays, limits from flags, a bridge
// network, exec/stop/rm, and nothing left behind.
const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
let f: Fixture;
let env: NodeJS.ProcessEnv;
let start: Leftovers;
const corral = (...a: string[]) => spawnSync(process.execPath, [CORRAL, "container", ...a], { encoding: "utf8", env });
const veths = () => readdirSync("/sys/class/net").filter((n) => !/^corral\d*$/.test(n)).length;
let startVeths = 0;
before(() => {
  f = fixture();
  env = { ...process.env, CORRAL_STATE_DIR: join(f.dir, "corral") };
  start = leftovers();
  startVeths = veths();
});
after(() => {
  const now = leftovers();
  assert.deepEqual({ ...now, links: 0 }, { ...start, links: 0 }, "no cgroups, mounts or processes left");
  assert.equal(veths(), startVeths, "no container links left (the shared bridge may stay)");
  f.cleanup();
});

test("run -d with limits and a bridge address; ls, exec, stats, stop, rm", () => {
  const run = spawnSync(
    process.execPath,
    [
      CORRAL,
      "container",
      "run",
      "--name",
      "web",
      "--cpus",
      "0.5",
      "--memory",
      "64M",
      "--pids",
      "50",
      "--net",
      "bridge",
      "-d",
      f.rootfs,
      "--",
      "sleep",
      "60",
    ],
    { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] },
  );
  assert.equal(run.status, 0, run.stderr);
  const [, address] = run.stdout.trim().split(" ");
  assert.match(address ?? "", /^\d+\.\d+\.\d+\.\d+$/);
  assert.match(corral("ls").stdout, new RegExp(`web\\s+running.*bridge\\s+${address}`));
  const ip = corral("exec", "web", "--", "ip", "-4", "addr", "show", "eth0");
  assert.match(ip.stdout, new RegExp(`inet ${address}/`));
  const stats = corral("stats", "web").stdout;
  assert.match(stats, /of 64\.0 MiB/);
  assert.match(stats, /pids\s+1 of 50/);
  const rmRunning = corral("rm", "web");
  assert.notEqual(rmRunning.status, 0);
  assert.match(rmRunning.stderr, /stop it first/);
  assert.equal(corral("stop", "-t", "1", "web").status, 0);
  assert.equal(corral("rm", "web").status, 0);
  assert.equal(corral("ls").stdout.trim().split("\n").length, 1);
});

test("containers of one tarball image share one unpacked copy; writes stay per container", () => {
  const tar = join(f.dir, "busybox.tar");
  execFileSync("tar", ["-C", f.rootfs, "-cf", tar, "."]);
  const a = corral("run", "--name", "a", "--rm", tar, "--", "sh", "-c", "echo mine > /root/file; cat /root/file");
  assert.equal(a.stdout, "mine\n", a.stderr);
  const b = corral("run", "--name", "b", "--rm", tar, "--", "sh", "-c", "cat /root/file 2>&1; true");
  assert.match(b.stdout, /No such file/);
  assert.equal(readdirSync(join(f.dir, "corral", "images")).length, 1, "unpacked once");
  assert.equal(readFileSync("/proc/self/mountinfo", "utf8").includes(join(f.dir, "corral")), false);
});

test("bad input: unknown image, bad size, unknown container", () => {
  assert.match(corral("run", join(f.dir, "nope"), "--", "true").stderr, /does not exist/);
  assert.match(corral("run", "--memory", "lots", f.rootfs, "--", "true").stderr, /not a size/);
  const rm = corral("rm", "ghost");
  assert.notEqual(rm.status, 0);
  assert.match(rm.stderr, /'ghost' does not exist/);
});
