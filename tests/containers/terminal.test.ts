import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { buildReceiver, startReceiver } from "./console.js";
import { fixture, type Fixture } from "./fixtures.js";

// process.terminal with runc's --console-socket: the runtime makes a pty inside the container
// and hands its master to the engine over a Unix socket (SCM_RIGHTS); the container's stdio is
// the slave, so `tty` names it and output arrives with the line discipline's CR LF.
const OCI = fileURLToPath(new URL("../../../bin/corral-oci", import.meta.url));
let f: Fixture;
let recv = "";
before(() => {
  f = fixture();
  recv = buildReceiver(f.dir);
});
after(() => f.cleanup());

const oci = (...a: string[]) =>
  spawnSync(OCI, ["--root", join(f.dir, "state"), ...a], { encoding: "utf8", timeout: 60000 });
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

test("run with a terminal sends the pty master to the console socket", async () => {
  const b = f.bundle("tty1", ["sh", "-c", "tty; echo hello-tty; exit 4"], (c) => {
    (c["process"] as Record<string, unknown>)["terminal"] = true;
  });
  const r = await startReceiver(recv, join(f.dir, "tty1.sock"));
  const run = oci("run", "--bundle", b, "--console-socket", r.socket, "tty1");
  assert.equal(run.status, 4, run.stderr);
  assert.equal(run.stdout, "", "the container's output goes to the pty, not the runtime's stdout");
  const [name, ...rest] = (await r.output()).split("\n");
  assert.match(name ?? "", /^name=\/dev\/pts\/\d+$/);
  assert.deepEqual(rest.join("\n"), `${name?.slice(5)}\r\nhello-tty\r\n`);
});

test("a terminal without --console-socket is refused clearly and leaves nothing", () => {
  const b = f.bundle("tty2", ["true"], (c) => {
    (c["process"] as Record<string, unknown>)["terminal"] = true;
  });
  const run = oci("run", "--bundle", b, "tty2");
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /a terminal needs --console-socket/);
  assert.equal(oci("list", "-q").stdout, "");
});

test("exec --tty gets its own pty through the console socket", async () => {
  const b = f.bundle("tty3", ["sleep", "60"]);
  // Detached, the container keeps the stdio it was given: give it none to hold open.
  const run = spawnSync(OCI, ["--root", join(f.dir, "state"), "run", "--bundle", b, "--detach", "tty3"], {
    stdio: "ignore",
    timeout: 60000,
  });
  assert.equal(run.status, 0);
  try {
    const r = await startReceiver(recv, join(f.dir, "tty3.sock"));
    const ex = oci("exec", "--tty", "--console-socket", r.socket, "tty3", "sh", "-c", "tty; echo $$");
    assert.equal(ex.status, 0, ex.stderr);
    const [name, tty, pid] = (await r.output()).split("\n");
    assert.match(name ?? "", /^name=\/dev\/pts\/\d+$/);
    assert.equal(tty, `${name?.slice(5)}\r`);
    assert.notEqual(pid, "1\r", "the exec'd shell is not the container's init");
  } finally {
    oci("delete", "--force", "tty3");
  }
});

// podman's default ulimits exceed this machine's hard limits (see notes/environment.md).
const PODMAN = ["--runtime", OCI, "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

test("podman run -t through corral oci: tty inside is a pty and output arrives", (t) => {
  if (!has("podman")) return t.skip("podman is not installed");
  const r = spawnSync(
    "podman",
    [
      "--runtime",
      OCI,
      "run",
      "--rm",
      "-t",
      ...PODMAN.slice(2),
      "--rootfs",
      f.rootfs,
      "sh",
      "-c",
      "tty; echo hi-podman",
    ],
    { encoding: "utf8", timeout: 120000, stdio: ["ignore", "pipe", "pipe"] },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r\nhi-podman\r\n$/);
});

test("podman exec -t through corral oci gets a pty", (t) => {
  if (!has("podman")) return t.skip("podman is not installed");
  const name = `corral-tty-${process.pid}`;
  const run = spawnSync(
    "podman",
    ["--runtime", OCI, "run", "-d", "--name", name, ...PODMAN.slice(2), "--rootfs", f.rootfs, "sleep", "60"],
    { encoding: "utf8", timeout: 120000 },
  );
  try {
    assert.equal(run.status, 0, run.stderr);
    const ex = spawnSync("podman", ["--runtime", OCI, "exec", "-t", name, "tty"], {
      encoding: "utf8",
      timeout: 60000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.equal(ex.status, 0, ex.stderr);
    assert.match(ex.stdout, /^\/dev\/pts\/\d+\r\n$/);
  } finally {
    spawnSync("podman", ["--runtime", OCI, "rm", "-f", "-t", "0", name], { timeout: 60000 });
  }
});
