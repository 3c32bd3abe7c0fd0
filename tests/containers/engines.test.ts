import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { fixture, until, type Fixture } from "./fixtures.js";

// Real engines from Debian's packages run containers through Corral's runtime: podman (with
// conmon) and containerd (ctr, containerd-shim-runc-v2 with Corral as its runc binary).
const OCI = fileURLToPath(new URL("../../../bin/corral-oci", import.meta.url));
let f: Fixture;
before(() => {
  f = fixture();
});
after(() => f.cleanup());

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
// podman's default ulimits exceed this machine's hard limits (see notes/environment.md).
const LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

test("podman runs a busybox container through corral oci", (t) => {
  if (!has("podman")) return t.skip("podman is not installed");
  const r = spawnSync(
    "podman",
    [
      "--runtime",
      OCI,
      "run",
      "--rm",
      "--network",
      "none",
      ...LIMITS,
      "--rootfs",
      f.rootfs,
      "sh",
      "-c",
      "echo hello $$; hostname",
    ],
    { encoding: "utf8", timeout: 120000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const [hello, host] = r.stdout.trim().split("\n");
  assert.equal(hello, "hello 1");
  assert.notEqual(host, spawnSync("hostname", { encoding: "utf8" }).stdout.trim());
});

test("podman's exit status, exec and stop go through corral oci", (t) => {
  if (!has("podman")) return t.skip("podman is not installed");
  const name = `corral-podman-${process.pid}`;
  const run = spawnSync(
    "podman",
    [
      "--runtime",
      OCI,
      "run",
      "-d",
      "--name",
      name,
      "--network",
      "none",
      ...LIMITS,
      "--rootfs",
      f.rootfs,
      "sleep",
      "60",
    ],
    { encoding: "utf8", timeout: 120000 },
  );
  try {
    assert.equal(run.status, 0, run.stderr);
    const ex = spawnSync("podman", ["--runtime", OCI, "exec", name, "sh", "-c", "echo in; exit 3"], {
      encoding: "utf8",
      timeout: 60000,
    });
    assert.equal(ex.status, 3, ex.stderr);
    assert.equal(ex.stdout, "in\n");
    const stop = spawnSync("podman", ["--runtime", OCI, "stop", "-t", "1", name], { encoding: "utf8", timeout: 60000 });
    assert.equal(stop.status, 0, stop.stderr);
  } finally {
    spawnSync("podman", ["--runtime", OCI, "rm", "-f", name], { timeout: 60000 });
  }
});

test("ctr runs a busybox container through corral oci as containerd's runc", async (t) => {
  if (!has("containerd") || !has("ctr")) return t.skip("containerd is not installed");
  const dir = join(f.dir, "containerd");
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, "sock");
  const d = spawn("containerd", ["--root", join(dir, "root"), "--state", join(dir, "state"), "--address", sock], {
    stdio: "ignore",
  });
  try {
    assert.ok(await until(() => existsSync(sock), 500), "containerd started");
    const ctr = (...a: string[]) => spawnSync("ctr", ["--address", sock, ...a], { encoding: "utf8", timeout: 120000 });
    const r = ctr(
      "run",
      "--rm",
      "--runc-binary",
      OCI,
      "--rootfs",
      f.rootfs,
      "corral-ctr",
      "sh",
      "-c",
      "echo hello $$; cat /proc/self/cgroup | grep pids",
    );
    assert.equal(r.status, 0, r.stderr);
    const [hello, cg] = r.stdout.trim().split("\n");
    assert.equal(hello, "hello 1");
    assert.match(cg ?? "", /corral-ctr/);
    assert.equal(ctr("containers", "list", "-q").stdout.trim(), "");
  } finally {
    d.kill("SIGTERM");
    await new Promise((r) => d.on("exit", r));
    spawnSync("sh", ["-c", `grep ' ${dir}' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l`]);
  }
});
