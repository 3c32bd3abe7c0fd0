import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { buildReceiver, startReceiver } from "./console.js";
import { fixture, until, type Fixture } from "./fixtures.js";

// Rootless `corral oci`: a real unprivileged user, created for the test and removed after it,
// runs containers through the CLI (runuser drops every privilege of the test's root).
const OCI = fileURLToPath(new URL("../../../bin/corral-oci", import.meta.url));
const USER = `corralrl${process.pid % 100000}`;
let f: Fixture;
let uid = 0,
  gid = 0;
let xdg = "";

const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" });

before(() => {
  f = fixture();
  const add = spawnSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", USER], { encoding: "utf8" });
  assert.equal(add.status, 0, add.stderr);
  uid = Number(sh(`id -u ${USER}`).stdout);
  gid = Number(sh(`id -g ${USER}`).stdout);
  xdg = join(f.dir, "xdg");
  mkdirSync(xdg, { mode: 0o700 });
  chownSync(xdg, uid, gid);
});

after(() => {
  sh(`pkill -KILL -u ${USER}; sleep 0.2`);
  spawnSync("userdel", [USER]);
  f.cleanup();
});

/** Run `corral-oci ARGS` as the test user, in `cwd`, with a shell line around it if given. */
function asUser(line: string, cwd = f.dir): { status: number | null; stdout: string; stderr: string } {
  return spawnSync("runuser", ["-u", USER, "--", "env", `XDG_RUNTIME_DIR=${xdg}`, "sh", "-c", line], {
    cwd,
    encoding: "utf8",
    timeout: 60000,
  });
}

const stateDir = () => join(xdg, "corral-oci");

test("an unprivileged user runs a container: state under XDG_RUNTIME_DIR, root inside is the user outside", async () => {
  const out = join(xdg, "rl1.out");
  const b = f.bundle("rl1", [
    "sh",
    "-c",
    "echo pid $$; id -u; hostname; ls /sys/class/net; grep ' /sys ' /proc/mounts; ls -l /dev/null; exec sleep 60",
  ]);
  const create = asUser(`${OCI} create --bundle ${b} rl1 > ${out} 2>&1`);
  assert.equal(create.status, 0, create.stderr + readFileSync(out, "utf8"));
  // runc and crun skip cgroups the same way when none is delegated to the user.
  assert.match(readFileSync(out, "utf8"), /warning: no writable cgroup/);
  assert.ok(existsSync(join(stateDir(), "rl1", "state.json")), "state is under $XDG_RUNTIME_DIR/corral-oci");
  const st = JSON.parse(asUser(`${OCI} state rl1`).stdout) as { status: string; pid: number };
  assert.equal(st.status, "created");
  // The container's root is the user's uid on the host (user_namespaces(7)).
  const hostUid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${st.pid}/status`, "utf8"))?.[1];
  assert.equal(Number(hostUid), uid);
  assert.equal(asUser(`${OCI} start rl1`).status, 0);
  assert.ok(await until(() => readFileSync(out, "utf8").includes("/dev/null")), readFileSync(out, "utf8"));
  const lines = readFileSync(out, "utf8")
    .split("\n")
    .filter((l) => !l.startsWith("corral: warning"));
  assert.equal(lines[0], "pid 1");
  assert.equal(lines[1], "0", "root inside the container");
  assert.equal(lines[2], "corral");
  assert.equal(lines[3], "lo", "a network namespace with only lo");
  assert.match(lines[4] ?? "", /^sysfs \/sys sysfs ro,/);
  assert.match(lines[5] ?? "", /^crw-rw-rw- .* 1, +3 /, "the device node is there (bound from the host)");
  assert.equal(JSON.parse(asUser(`${OCI} state rl1`).stdout).status, "running");
  const ps = JSON.parse(asUser(`${OCI} ps --format json rl1`).stdout) as number[];
  assert.deepEqual(ps, [st.pid], "ps finds the container's processes through its PID namespace");
  const del = asUser(`${OCI} delete --force rl1`);
  assert.equal(del.status, 0, del.stderr);
  assert.equal(existsSync(join(stateDir(), "rl1")), false);
  // The killed init is reaped by whoever adopted it once the detached helper left; the user's
  // resident corral-oci server (started by the first call) is stopped.
  assert.equal(asUser(`${OCI} server stop`).status, 0);
  assert.ok(await until(() => sh(`pgrep -u ${USER}`).stdout === ""), "no process of the user is left");
});

test("a rootless `run` reports the exit status and keeps the read-only rootfs", () => {
  const b = f.bundle("rl2", ["sh", "-c", "touch /x 2>/dev/null && echo writable; exit 7"]);
  const r = asUser(`${OCI} run --bundle ${b} rl2`);
  assert.equal(r.status, 7, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(asUser(`${OCI} list -q`).stdout, "");
});

function subRange(file: string): { start: number; size: number } | undefined {
  const line = readFileSync(file, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${USER}:`));
  const [, start, size] = line?.split(":") ?? [];
  return start && size ? { start: Number(start), size: Number(size) } : undefined;
}

test("maps beyond the user's own id go through newuidmap/newgidmap and /etc/subuid", (t) => {
  if (sh("command -v newuidmap && command -v newgidmap").status !== 0)
    return t.skip("the uidmap package is not installed");
  const su = subRange("/etc/subuid"),
    sg = subRange("/etc/subgid");
  if (!su || !sg) return t.skip("useradd gave the user no subordinate ids");
  const shared = join(f.dir, "shared");
  mkdirSync(shared);
  chownSync(shared, uid, gid);
  const b = f.bundle("rl3", ["sh", "-c", "cat /proc/self/uid_map; touch /tmp/f; chown 1000:1000 /tmp/f"], (c) => {
    const l = c["linux"] as Record<string, unknown>;
    (l["namespaces"] as unknown[]).push({ type: "user" });
    l["uidMappings"] = [
      { containerID: 0, hostID: uid, size: 1 },
      { containerID: 1, hostID: su.start, size: su.size },
    ];
    l["gidMappings"] = [
      { containerID: 0, hostID: gid, size: 1 },
      { containerID: 1, hostID: sg.start, size: sg.size },
    ];
    const p = c["process"] as Record<string, Record<string, string[]>>;
    for (const k of ["bounding", "effective", "permitted"]) p["capabilities"]?.[k]?.push("CAP_CHOWN");
    (c["mounts"] as unknown[]).push({ destination: "/tmp", type: "bind", source: shared, options: ["rbind", "rw"] });
  });
  const r = asUser(`${OCI} run --bundle ${b} rl3`);
  assert.equal(r.status, 0, r.stderr);
  const maps = r.stdout
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
  assert.deepEqual(maps, [
    [0, uid, 1],
    [1, su.start, su.size],
  ]);
  // Container uid 1000 is subordinate id start+999 on the host.
  const owner = sh(`stat -c '%u %g' ${join(shared, "f")}`).stdout.trim();
  assert.equal(owner, `${su.start + 999} ${sg.start + 999}`);
});

test("a mapping the user was not granted is refused, naming the field", () => {
  const b = f.bundle("rl4", ["true"], (c) => {
    const l = c["linux"] as Record<string, unknown>;
    (l["namespaces"] as unknown[]).push({ type: "user" });
    l["uidMappings"] = [
      { containerID: 0, hostID: uid, size: 1 },
      { containerID: 1, hostID: 1, size: 10 },
    ];
  });
  const r = asUser(`${OCI} run --bundle ${b} rl4`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linux\.uidMappings\[1\] maps host ids 1\.\.10, which \/etc\/subuid does not grant/);
  assert.equal(asUser(`${OCI} list -q`).stdout, "");
});

test("where the kernel forbids unprivileged user namespaces the error names the sysctl", () => {
  // user.max_user_namespaces is per user namespace (Linux 4.9+): set to 0 in a namespace of
  // the test user's own, it forbids new ones there without touching the rest of the machine.
  const b = f.bundle("rl5", ["true"]);
  const r = asUser(
    `unshare -U -r sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec ${OCI} --root ${xdg}/nested run --bundle ${b} rl5'`,
  );
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", /forbids unprivileged user namespaces \(sysctl user\.max_user_namespaces = 0\)/);
  assert.equal(existsSync(join(xdg, "nested", "rl5")), false);
});

test("a rootless container with a terminal gets a pty through the console socket", async () => {
  const recv = buildReceiver(f.dir);
  const b = f.bundle("rl6", ["sh", "-c", "tty; id -u"], (c) => {
    (c["process"] as Record<string, unknown>)["terminal"] = true;
  });
  const r = await startReceiver(recv, join(xdg, "rl6.sock"), USER);
  const run = asUser(`${OCI} run --bundle ${b} --console-socket ${r.socket} rl6`);
  assert.equal(run.status, 0, run.stderr);
  const [name, tty, id] = (await r.output()).split("\n");
  assert.match(name ?? "", /^name=\/dev\/pts\/\d+$/);
  assert.equal(tty, `${name?.slice(5)}\r`);
  assert.equal(id, "0\r");
});

test("spec --rootless writes a config the user can run as is", () => {
  const b = join(xdg, "spec");
  mkdirSync(b);
  chownSync(b, uid, gid);
  const spec = asUser(`${OCI} spec --rootless --bundle ${b}`);
  assert.equal(spec.status, 0, spec.stderr);
  const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8")) as {
    linux: { uidMappings: unknown[] };
    process: Record<string, unknown>;
    root: Record<string, unknown>;
  };
  assert.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: uid, size: 1 }]);
  c.process["terminal"] = false;
  c.process["args"] = ["sh", "-c", "cat /proc/self/gid_map"];
  c.root["path"] = f.rootfs;
  spawnSync("runuser", ["-u", USER, "--", "sh", "-c", `cat > ${join(b, "config.json")}`], { input: JSON.stringify(c) });
  const r = asUser(`${OCI} run --bundle ${b} spec1`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(/\s+/).map(Number), [0, gid, 1]);
});
