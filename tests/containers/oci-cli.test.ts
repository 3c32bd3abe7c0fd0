import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { fixture, leftovers, until, type Fixture, type Leftovers } from "./fixtures.js";

// `corral oci` through its runc-compatible executable, as an engine calls it.
const OCI = fileURLToPath(new URL("../../../bin/corral-oci", import.meta.url));
let f: Fixture;
let root: string;
let start: Leftovers;
const oci = (...args: string[]) => spawnSync(OCI, ["--root", root, ...args], { encoding: "utf8" });
/** For create and run -d: the container inherits the runtime's stdio, so none is captured. */
const ociDetached = (...args: string[]) => spawnSync(OCI, ["--root", root, ...args], { stdio: "ignore" }).status;
before(() => {
  f = fixture();
  root = join(f.dir, "state");
  start = leftovers();
});
after(() => {
  // The calls went through the resident server (bin/corral-oci's native client): end it.
  assert.equal(oci("server", "stop").status, 0);
  assert.deepEqual(leftovers(), start, "nothing left behind");
  f.cleanup();
});

test("create, state, start, kill, delete: the OCI lifecycle with runc's state JSON", async () => {
  const b = f.bundle("life", ["sleep", "30"]);
  assert.equal(ociDetached("create", "--bundle", b, "--pid-file", join(f.dir, "pid"), "life"), 0);
  const st = JSON.parse(oci("state", "life").stdout) as Record<string, unknown>;
  assert.equal(st["status"], "created");
  assert.equal(st["id"], "life");
  assert.equal(st["bundle"], b);
  assert.equal(String(st["pid"]), readFileSync(join(f.dir, "pid"), "utf8"));
  assert.equal(
    readFileSync(`/proc/${String(st["pid"])}/cmdline`, "utf8").startsWith("/"),
    true,
    "still the helper before start",
  );
  assert.equal(oci("start", "life").status, 0);
  assert.equal(JSON.parse(oci("state", "life").stdout)["status"], "running");
  const again = oci("start", "life");
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /not created/);
  const del = oci("delete", "life");
  assert.notEqual(del.status, 0);
  assert.match(del.stderr, /--force/);
  assert.equal(oci("kill", "life", "KILL").status, 0);
  await until(() => JSON.parse(oci("state", "life").stdout)["status"] === "stopped", 50);
  assert.equal(oci("delete", "life").status, 0);
  assert.equal(oci("list", "-q").stdout, "");
});

test("run in the foreground returns the container's exit status", () => {
  const r = oci("run", "--bundle", f.bundle("rc", ["sh", "-c", "echo out; exit 7"]), "rc");
  assert.equal(r.status, 7);
  assert.equal(r.stdout, "out\n");
});

test("exec, ps and events --stats on a running container", () => {
  assert.equal(ociDetached("run", "-d", "--bundle", f.bundle("ex", ["sleep", "30"]), "ex"), 0);
  const e = oci("exec", "ex", "hostname");
  assert.equal(e.status, 0);
  assert.equal(e.stdout.trim(), "corral");
  const pids = JSON.parse(oci("ps", "--format", "json", "ex").stdout) as number[];
  assert.equal(pids.length, 1);
  const ev = JSON.parse(oci("events", "--stats", "ex").stdout) as { type: string; data: { pids: { current: number } } };
  assert.equal(ev.type, "stats");
  assert.equal(ev.data.pids.current, 1);
  assert.equal(oci("delete", "--force", "ex").status, 0);
});

test("bad input gets a clear error and a non-zero exit", () => {
  const unknown = oci("state", "nope");
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /'nope' does not exist/);
  const bad = f.bundle("bad", ["true"], (c) => {
    ((c["linux"] as Record<string, unknown>)["resources"] as Record<string, unknown>)["memory"] = { limit: "lots" };
  });
  const r = oci("create", "--bundle", bad, "bad");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linux\.resources\.memory\.limit must be an integer/);
  const noRoot = f.bundle("noroot", ["true"], (c) => {
    c["root"] = { path: join(f.dir, "missing") };
  });
  assert.match(oci("create", "--bundle", noRoot, "nr").stderr, /rootfs .* is not a directory/);
  const sd = spawnSync(OCI, ["--systemd-cgroup", "--root", root, "list"], { encoding: "utf8" });
  assert.notEqual(sd.status, 0);
  assert.match(sd.stderr, /systemd-cgroup is not supported/);
  assert.equal(oci("list", "-q").stdout, "");
});

test("--log-format json records failures for the engine to read", () => {
  const log = join(f.dir, "log.json");
  spawnSync(OCI, ["--root", root, "--log", log, "--log-format", "json", "start", "ghost"], { encoding: "utf8" });
  const entry = JSON.parse(readFileSync(log, "utf8").trim().split("\n").pop() ?? "{}") as Record<string, string>;
  assert.equal(entry["level"], "error");
  assert.match(entry["msg"] ?? "", /ghost/);
});

test("hooks run with the state on stdin (prestart, poststart, poststop)", async () => {
  const out = join(f.dir, "hooks.log");
  const hook = (stage: string) => ({
    path: "/bin/sh",
    args: ["sh", "-c", `cat >> ${out}; echo " ${stage}" >> ${out}`],
  });
  const b = f.bundle("hk", ["true"], (c) => {
    c["hooks"] = { prestart: [hook("prestart")], poststart: [hook("poststart")], poststop: [hook("poststop")] };
  });
  assert.equal(oci("run", "--bundle", b, "hk").status, 0);
  const text = readFileSync(out, "utf8");
  for (const s of ["prestart", "poststart", "poststop"]) assert.ok(text.includes(s), text);
  assert.match(text, /"id":"hk"/);
  writeFileSync(out, "");
  assert.equal(existsSync(join(root, "hk")), false);
});
