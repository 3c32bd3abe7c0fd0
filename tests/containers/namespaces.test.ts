import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Runtime } from "../../src/containers/runtime/runtime.js";
import { fixture, leftovers, runCapture, until, type Fixture, type Leftovers } from "./fixtures.js";

// Real namespaces on the host kernel (OCI config-linux.md "Namespaces"): each test runs busybox
// in a container and checks what it sees against what the host sees.
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

test("PID 1 in the container is itself and no host process is visible", async () => {
  const r = await runCapture(rt, "pid", f.bundle("pid", ["sh", "-c", "echo self=$$; ls /proc | grep -c '^[0-9]'"]));
  assert.equal(r.code, 0, r.out);
  const [self, count] = r.out.trim().split("\n");
  assert.equal(self, "self=1");
  // sh itself and the ls/grep pipeline: nothing of the host's hundreds of processes.
  assert.ok(Number(count) <= 3, `container saw ${count} processes`);
});

test("hostname is the container's own and the host's is unchanged", async () => {
  const hostBefore = readFileSync("/proc/sys/kernel/hostname", "utf8");
  const r = await runCapture(
    rt,
    "uts",
    f.bundle("uts", ["hostname"], (c) => {
      c["hostname"] = "inside-corral";
    }),
  );
  assert.equal(r.out.trim(), "inside-corral");
  assert.equal(readFileSync("/proc/sys/kernel/hostname", "utf8"), hostBefore);
});

test("mounts made inside stay inside", async () => {
  const hostMounts = readFileSync("/proc/self/mountinfo", "utf8");
  const r = await runCapture(
    rt,
    "mnt",
    f.bundle(
      "mnt",
      ["sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && grep -c ' /tmp/m ' /proc/self/mountinfo"],
      (c) => {
        const p = c["process"] as Record<string, unknown>;
        p["capabilities"] = { bounding: ["CAP_SYS_ADMIN"], effective: ["CAP_SYS_ADMIN"], permitted: ["CAP_SYS_ADMIN"] };
        (c["root"] as Record<string, unknown>)["readonly"] = false;
      },
    ),
  );
  assert.equal(r.out.trim(), "1", r.out);
  assert.equal(readFileSync("/proc/self/mountinfo", "utf8").includes("/tmp/m "), hostMounts.includes("/tmp/m "));
});

test("the network namespace has only a loopback device", async () => {
  const r = await runCapture(rt, "net", f.bundle("net", ["ls", "/sys/class/net"]));
  assert.equal(r.out.trim(), "lo");
});

test("a file outside the rootfs cannot be reached, not even through a symlink to its host path", async () => {
  writeFileSync(join(f.dir, "secret"), "host secret\n");
  const { symlinkSync, rmSync } = await import("node:fs");
  // From the host this link names the secret; inside, absolute links resolve in the new root.
  symlinkSync(join(f.dir, "secret"), join(f.rootfs, "escape"));
  try {
    const r = await runCapture(
      rt,
      "escape",
      f.bundle("escape", ["sh", "-c", "cat /../secret ../../secret /escape 2>&1"]),
    );
    assert.ok(!r.out.includes("host secret"), r.out);
    assert.equal(r.out.match(/No such file/g)?.length, 3, r.out);
  } finally {
    rmSync(join(f.rootfs, "escape"));
  }
});

test("a user-namespaced container's root is an unprivileged uid on the host", async () => {
  const b = f.bundle("userns", ["sh", "-c", "id -u; sleep 5"], (c) => {
    const l = c["linux"] as Record<string, unknown>;
    (l["namespaces"] as unknown[]).push({ type: "user" });
    l["uidMappings"] = [{ containerID: 0, hostID: 100000, size: 65536 }];
    l["gidMappings"] = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  const { openSync, closeSync } = await import("node:fs");
  const out = join(f.dir, "userns.out");
  const fd = openSync(out, "w+");
  const c = await rt.run("userns", { bundle: b, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  await until(() => readFileSync(out, "utf8").includes("\n"));
  const status = readFileSync(`/proc/${c.pid}/status`, "utf8");
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  assert.equal(uid, "100000", "host sees the mapped uid");
  await rt.delete("userns", true);
  assert.equal(readFileSync(out, "utf8").split("\n")[0], "0", "the container sees root");
});

test("a container joins another's network namespace by path", async () => {
  const owner = await rt.run("netowner", { bundle: f.bundle("netowner", ["sleep", "30"]), stdio: "ignore" });
  try {
    const r = await runCapture(
      rt,
      "joiner",
      f.bundle("joiner", ["sh", "-c", "readlink /proc/self/ns/net"], (c) => {
        const ns = (c["linux"] as Record<string, unknown>)["namespaces"] as { type: string; path?: string }[];
        const net = ns.find((n) => n.type === "network");
        if (net) net.path = `/proc/${owner.pid}/ns/net`;
      }),
    );
    const { readlinkSync } = await import("node:fs");
    assert.equal(r.out.trim(), readlinkSync(`/proc/${owner.pid}/ns/net`));
  } finally {
    await rt.delete("netowner", true);
  }
});
