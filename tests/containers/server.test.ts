import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { setChildSubreaper } from "../../src/sys/proc.js";
import { SOCKET_NAME } from "../../src/containers/server/protocol.js";
import { fixture, leftovers, until, type Fixture, type Leftovers } from "./fixtures.js";

// The resident server behind bin/corral-oci: the native client hands each call to a Node process
// that stays up between calls (src/containers/server/), and falls back to Node per call.
const OCI = fileURLToPath(new URL("../../../bin/corral-oci", import.meta.url));
let f: Fixture;
let root: string;
let start: Leftovers;
const oci = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(OCI, ["--root", root, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
const sock = () => join(root, SOCKET_NAME);
const serverPid = (): number => Number(/server (\d+) serving/.exec(oci(["server", "status"]).stdout)?.[1] ?? 0);
const running = (pid: number) =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
before(() => {
  f = fixture();
  root = join(f.dir, "state");
  start = leftovers();
});
after(() => {
  oci(["server", "stop"]);
  assert.deepEqual(leftovers(), start, "nothing left behind");
  f.cleanup();
});

test("the first call starts a server on a 0600 socket in --root owned by the caller; later calls reuse it", () => {
  assert.equal(oci(["list", "-q"]).status, 0);
  const st = statSync(sock());
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, process.getuid?.());
  const pid = serverPid();
  assert.ok(pid > 0);
  assert.equal(
    readFileSync(`/proc/${pid}/comm`, "utf8").trim(),
    "corral-oci-serv",
    "the server's process title (comm keeps 15 characters)",
  );
  const r = oci(["run", "--bundle", f.bundle("rc", ["sh", "-c", "echo out; echo err >&2; exit 7"]), "rc"]);
  assert.equal(r.status, 7);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(serverPid(), pid, "the same server served both calls");
});

test("errors come back with their message and exit status; relative paths are the caller's", () => {
  const r = oci(["state", "ghost"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^corral: container 'ghost' does not exist/);
  f.bundle("rel", ["true"]);
  const rel = spawnSync(OCI, ["--root", root, "run", "--bundle", "rel", "rel"], { encoding: "utf8", cwd: f.dir });
  assert.equal(rel.status, 0, rel.stderr);
});

test("create leaves the container's init a descendant of the caller, not of the server", async () => {
  // The test process plays conmon: a subreaper that adopts what its children leave behind.
  setChildSubreaper(true);
  try {
    const r = spawnSync(OCI, ["--root", root, "create", "--bundle", f.bundle("tree", ["sleep", "30"]), "tree"], {
      stdio: "ignore",
    });
    assert.equal(r.status, 0);
    const pid = Number(JSON.parse(oci(["state", "tree"]).stdout)["pid"]);
    const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
    assert.equal(ppid, process.pid);
    assert.notEqual(ppid, serverPid());
  } finally {
    setChildSubreaper(false);
    oci(["delete", "--force", "tree"]);
  }
});

test("calls are served concurrently, and a signal to the client stops a foreground run", async () => {
  const fg = spawn(
    OCI,
    ["--root", root, "run", "--bundle", f.bundle("fg", ["sh", "-c", "trap 'exit 42' TERM; sleep 30 & wait"]), "fg"],
    { stdio: "ignore" },
  );
  const exited = new Promise<number | null>((r) => fg.on("exit", (code) => r(code)));
  // More than one process: the shell has set its trap and started sleep.
  assert.ok(
    await until(() => (JSON.parse(oci(["ps", "--format", "json", "fg"]).stdout || "[]") as number[]).length >= 2),
    "ps answered while run waits",
  );
  try {
    fg.kill("SIGTERM");
    // As with Node per call: the client's SIGTERM is passed to the container (its PID 1 traps it).
    assert.equal(await exited, 42);
  } finally {
    oci(["delete", "--force", "fg"]);
  }
  assert.equal(oci(["list", "-q"]).stdout, "", "run deleted it");
});

test("without a server (CORRAL_OCI_SERVER=0, or one in another context) Node runs the call", () => {
  const r = oci(["run", "--bundle", f.bundle("off", ["sh", "-c", "exit 5"]), "off"], { CORRAL_OCI_SERVER: "0" });
  assert.equal(r.status, 5);
  // Another PATH: the server answers "fall back" and the call still works.
  const other = oci(["run", "--bundle", f.bundle("path", ["sh", "-c", "exit 6"]), "path"], {
    PATH: `/nonexistent:${process.env["PATH"] ?? ""}`,
  });
  assert.equal(other.status, 6);
});

test("server stop ends it; an idle server ends by itself", async () => {
  const pid = serverPid();
  assert.equal(oci(["server", "stop"]).status, 0);
  assert.ok(await until(() => !running(pid)), "stopped");
  assert.equal(existsSync(sock()), false);
  assert.equal(oci(["list"], { CORRAL_OCI_SERVER_IDLE_MS: "200" }).status, 0);
  const idle = serverPid();
  assert.ok(idle > 0 && idle !== pid);
  assert.ok(await until(() => !running(idle)), "ended after 200 ms without calls");
  assert.equal(existsSync(sock()), false);
  assert.match(oci(["server", "status"], { CORRAL_OCI_SERVER: "0" }).stdout, /no corral-oci server/);
});
