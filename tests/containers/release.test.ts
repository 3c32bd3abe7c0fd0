import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { fixture, leftoversUnder, until, type Fixture } from "./fixtures.js";

// A `corral container` that has exited keeps its record, log and written files until rm, but not
// its overlay mount or its cgroups (issue 14 item 9).
const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const PREFIX = `rl${process.pid}-`;
let f: Fixture;
let env: NodeJS.ProcessEnv;
const corral = (...a: string[]) =>
  spawnSync(process.execPath, [CORRAL, "container", ...a], {
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
const held = () => leftoversUnder(f.dir, PREFIX);
const nothing = { mounts: [], cgroups: [], processes: [] };

before(() => {
  f = fixture();
  env = { ...process.env, CORRAL_STATE_DIR: join(f.dir, "corral") };
});
after(() => {
  const left = held();
  if (left.mounts.length === 0) f.cleanup(); // never delete through a mount left behind
  assert.deepEqual(left, nothing, "nothing left behind");
});

test("a foreground container releases its overlay and cgroups as it exits; rm removes the rest", () => {
  const name = `${PREFIX}fg`;
  const r = corral("run", "--name", name, f.rootfs, "--", "sh", "-c", "echo kept > /root/file; echo out; exit 3");
  assert.equal(r.status, 3, r.stderr + r.stdout);
  // The cgroups exist while it runs (a running container is checked in the next test).
  assert.deepEqual(held(), nothing, "no mount under its rootfs, no cgroup directory");
  assert.match(corral("ls").stdout, new RegExp(`${name}\\s+stopped`));
  const dir = join(f.dir, "corral", "containers", name);
  assert.equal(readFileSync(join(dir, "upper", "root", "file"), "utf8"), "kept\n", "what it wrote stays until rm");
  assert.equal(corral("rm", name).status, 0);
  assert.equal(existsSync(dir), false);
  assert.equal(corral("ls").stdout.includes(name), false);
});

test("a detached container holds its mount and cgroups while it runs and releases them when it exits", async () => {
  const name = `${PREFIX}bg`;
  const run = corral("run", "-d", "--name", name, f.rootfs, "--", "sh", "-c", "read x < /dev/stdin; sleep 60");
  assert.equal(run.status, 0, run.stderr);
  const running = held();
  assert.equal(running.mounts.length > 0 && running.cgroups.length > 0, true, JSON.stringify(running));
  assert.equal(corral("stop", "-t", "1", name).status, 0);
  assert.ok(await until(() => held().mounts.length === 0 && held().cgroups.length === 0, 1000), JSON.stringify(held()));
  assert.match(corral("ls").stdout, new RegExp(`${name}\\s+stopped`));
  assert.equal(corral("rm", name).status, 0);
  assert.equal(existsSync(join(f.dir, "corral", "containers", name)), false);
});
