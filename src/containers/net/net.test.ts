// setupNetwork / cleanupNetwork against the real kernel, inside a private network namespace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { CorralError } from "../../errors.js";
import { DEFAULT_BRIDGE, cleanupNetwork, setupNetwork, vethName } from "./index.js";
import {
  IN_TEST_NETNS,
  linkNames,
  ping,
  rerunInPrivateNetns,
  startContainer,
  type FakeContainer,
} from "./netns.testlib.js";

const isCode =
  (code: string) =>
  (e: unknown): boolean =>
    e instanceof CorralError && e.code === code;

if (process.env[IN_TEST_NETNS] !== "1") {
  test("container networking (run inside a private network namespace)", () => {
    const r = rerunInPrivateNetns(fileURLToPath(import.meta.url));
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /^# fail 0$/m, r.output);
    assert.doesNotMatch(r.output, /^# pass 0$/m, r.output);
  });
} else {
  let home: string;
  const containers: FakeContainer[] = [];
  const start = async (): Promise<FakeContainer> => {
    const c = await startContainer();
    containers.push(c);
    return c;
  };
  const stateFiles = (): string[] => {
    const dir = join(home, "net");
    try {
      return [...readdirSync(dir).filter((f) => f.endsWith(".json")), ...readdirSync(join(dir, "containers"))];
    } catch {
      return [];
    }
  };
  before(() => {
    home = mkdtempSync(join(tmpdir(), "corral-net-"));
    process.env["CORRAL_HOME"] = home;
  });
  after(async () => {
    for (const c of containers) await c.kill();
    rmSync(home, { recursive: true, force: true });
  });

  describe("bridge", () => {
    test("two containers on corral0 reach each other and the bridge; teardown leaves nothing", async () => {
      const a = await start();
      const b = await start();
      const before = linkNames();
      const na = await setupNetwork({ pid: a.pid, mode: "bridge", containerId: "web-a" });
      const nb = await setupNetwork({ pid: b.pid, mode: "bridge", containerId: "web-b" });
      assert.equal(na.ifname, "eth0");
      assert.equal(na.gateway, "172.31.200.1");
      assert.notEqual(na.address, nb.address);
      assert.match(na.address ?? "", /^172\.31\.200\.\d+$/);
      assert.deepEqual(linkNames(), [...before, DEFAULT_BRIDGE, vethName("web-a"), vethName("web-b")].sort());
      assert.deepEqual(linkNames(a.exec), ["eth0", "lo"]);
      assert.ok(ping(a, nb.address ?? ""), "a -> b");
      assert.ok(ping(b, na.address ?? ""), "b -> a");
      assert.ok(ping(a, "172.31.200.1"), "a -> bridge");
      assert.match(a.exec(["ip", "route", "show", "default"]).stdout, /default via 172\.31\.200\.1 dev eth0/);

      await na.teardown();
      await nb.teardown();
      assert.deepEqual(linkNames(), [...before, DEFAULT_BRIDGE].sort());
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.deepEqual(stateFiles(), []);
    });

    test("a released address is reused; a configurable subnet on another bridge", async () => {
      const a = await start();
      const n1 = await setupNetwork({
        pid: a.pid,
        mode: "bridge",
        bridge: "testbr1",
        subnet: "10.77.0.0/29",
        containerId: "s1",
      });
      assert.equal(n1.address, "10.77.0.2");
      assert.equal(n1.gateway, "10.77.0.1");
      await assert.rejects(
        setupNetwork({
          pid: (await start()).pid,
          mode: "bridge",
          bridge: "testbr1",
          subnet: "10.78.0.0/24",
          containerId: "s2",
        }),
        isCode("NET_SUBNET_CONFLICT"),
      );
      await n1.teardown();
      const b = await start();
      const n2 = await setupNetwork({
        pid: b.pid,
        mode: "bridge",
        bridge: "testbr1",
        subnet: "10.77.0.0/29",
        containerId: "s3",
      });
      assert.equal(n2.address, "10.77.0.2");
      await n2.teardown();
      spawnSync("ip", ["link", "del", "testbr1"]);
    });

    test("a pool that is full is refused clearly and leaves nothing behind", async () => {
      const got = [];
      for (let i = 0; i < 5; i++)
        got.push(
          await setupNetwork({
            pid: (await start()).pid,
            mode: "bridge",
            bridge: "testbr2",
            subnet: "10.79.0.0/29",
            containerId: `full${i}`,
          }),
        );
      const links = linkNames();
      await assert.rejects(
        setupNetwork({
          pid: (await start()).pid,
          mode: "bridge",
          bridge: "testbr2",
          subnet: "10.79.0.0/29",
          containerId: "full5",
        }),
        isCode("NET_POOL_EXHAUSTED"),
      );
      assert.deepEqual(linkNames(), links);
      for (const n of got) await n.teardown();
      assert.deepEqual(stateFiles(), []);
      spawnSync("ip", ["link", "del", "testbr2"]);
    });

    test("cleanupNetwork after the container died frees its address and leaves no veth", async () => {
      const a = await start();
      const before = linkNames();
      const n = await setupNetwork({ pid: a.pid, mode: "bridge", containerId: "dies" });
      await a.kill();
      await cleanupNetwork("dies");
      await cleanupNetwork("dies"); // idempotent
      assert.deepEqual(linkNames(), before.includes(DEFAULT_BRIDGE) ? before : [...before, DEFAULT_BRIDGE].sort());
      assert.deepEqual(stateFiles(), []);
      void n;
    });

    test("fifty setup/teardown cycles leave the link count and state unchanged", async () => {
      const a = await start();
      await (await setupNetwork({ pid: a.pid, mode: "bridge", containerId: "warm" })).teardown();
      const before = linkNames();
      for (let i = 0; i < 50; i++) {
        const n = await setupNetwork({ pid: a.pid, mode: "bridge", containerId: `cycle${i}` });
        await n.teardown();
      }
      assert.deepEqual(linkNames(), before);
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.deepEqual(stateFiles(), []);
    });
  });

  describe("macvlan and ipvlan", () => {
    // The "physical" NIC: a dummy if the kernel has it, else one end of a veth pair (this machine's
    // kernel is built without CONFIG_DUMMY). Either way it exists only in the test's namespace.
    let nic = "";
    before(() => {
      if (spawnSync("ip", ["link", "add", "nic0", "type", "dummy"]).status === 0) nic = "nic0";
      else {
        assert.equal(spawnSync("ip", ["link", "add", "nic0", "type", "veth", "peer", "name", "nic0p"]).status, 0);
        spawnSync("ip", ["link", "set", "nic0p", "up"]);
        nic = "nic0";
      }
      spawnSync("ip", ["link", "set", nic, "up"]);
    });

    test("one NIC appears as a device in each container; they reach each other", async () => {
      const a = await start();
      const b = await start();
      const before = linkNames();
      const na = await setupNetwork({
        pid: a.pid,
        mode: { macvlan: nic },
        containerId: "mv-a",
        subnet: "192.168.77.0/24",
      });
      const nb = await setupNetwork({
        pid: b.pid,
        mode: { macvlan: nic },
        containerId: "mv-b",
        subnet: "192.168.77.0/24",
      });
      assert.deepEqual(linkNames(), before, "the children live only in the containers");
      type Link = { ifname: string; address: string; link_index?: number; linkinfo?: { info_kind?: string } };
      const show = (c: FakeContainer): Link =>
        (JSON.parse(c.exec(["ip", "-j", "-d", "link", "show", "eth0"]).stdout) as Link[])[0] as Link;
      const nicIndex = (
        JSON.parse(spawnSync("ip", ["-j", "link", "show", nic], { encoding: "utf8" }).stdout) as Array<{
          ifindex: number;
        }>
      )[0]?.ifindex;
      for (const c of [a, b]) {
        assert.equal(show(c).linkinfo?.info_kind, "macvlan");
        assert.equal(show(c).link_index, nicIndex, "a child of the test's NIC");
      }
      assert.notEqual(show(a).address, show(b).address, "each child has its own MAC");
      assert.ok(ping(a, nb.address ?? ""), "a -> b");
      assert.ok(ping(b, na.address ?? ""), "b -> a");
      await na.teardown();
      await nb.teardown();
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.deepEqual(linkNames(b.exec), ["lo"]);
      assert.deepEqual(stateFiles(), []);
    });

    test("macvlan without a subnet gives an up interface and no address", async () => {
      const a = await start();
      const n = await setupNetwork({ pid: a.pid, mode: { macvlan: nic }, containerId: "mv-noaddr" });
      assert.equal(n.address, undefined);
      assert.match(a.exec(["ip", "-br", "link", "show", "eth0"]).stdout, /UP|LOWERLAYERDOWN|UNKNOWN/);
      await n.teardown();
      assert.deepEqual(linkNames(a.exec), ["lo"]);
    });

    test("ipvlan works where the kernel has it, and is refused clearly where it does not", async () => {
      const a = await start();
      const b = await start();
      const before = linkNames();
      let na;
      try {
        na = await setupNetwork({ pid: a.pid, mode: { ipvlan: nic }, containerId: "iv-a", subnet: "192.168.78.0/24" });
      } catch (e) {
        assert.ok(isCode("NET_DRIVER_MISSING")(e), String(e));
        assert.match((e as Error).message, /no ipvlan driver/);
        assert.deepEqual(linkNames(a.exec), ["lo"]);
        assert.deepEqual(linkNames(), before);
        assert.deepEqual(stateFiles(), []);
        return;
      }
      const nb = await setupNetwork({
        pid: b.pid,
        mode: { ipvlan: nic },
        containerId: "iv-b",
        subnet: "192.168.78.0/24",
      });
      assert.ok(ping(a, nb.address ?? ""));
      await na.teardown();
      await nb.teardown();
      assert.deepEqual(stateFiles(), []);
    });

    test("a missing parent NIC is refused clearly and leaves nothing behind", async () => {
      const a = await start();
      await assert.rejects(
        setupNetwork({ pid: a.pid, mode: { macvlan: "nosuchnic" }, containerId: "mv-x", subnet: "192.168.79.0/24" }),
        isCode("NET_DEVICE_MISSING"),
      );
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.deepEqual(stateFiles(), []);
    });
  });

  describe("none and bad input", () => {
    test('"none" gives only lo, up', async () => {
      const a = await start();
      const n = await setupNetwork({ pid: a.pid, mode: "none", containerId: "quiet" });
      assert.equal(n.ifname, "lo");
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.match(a.exec(["ip", "-br", "link", "show", "lo"]).stdout, /UNKNOWN|UP/);
      assert.ok(ping(a, "127.0.0.1"));
      await n.teardown();
    });

    test("bad input gets stable codes", async () => {
      const a = await start();
      await assert.rejects(
        setupNetwork({ pid: 999999999, mode: "bridge", containerId: "x" }),
        isCode("NET_NO_PROCESS"),
      );
      await assert.rejects(
        setupNetwork({ pid: process.pid, mode: "bridge", containerId: "x" }),
        isCode("NET_SAME_NAMESPACE"),
      );
      await assert.rejects(
        setupNetwork({ pid: a.pid, mode: "bridge", subnet: "10.0.0.1/24", containerId: "x" }),
        isCode("NET_SUBNET_INVALID"),
      );
      await assert.rejects(
        setupNetwork({ pid: a.pid, mode: "bridge", subnet: "banana", containerId: "x" }),
        isCode("NET_SUBNET_INVALID"),
      );
      await assert.rejects(
        setupNetwork({ pid: a.pid, mode: "bridge", containerId: "../etc" }),
        isCode("NET_INVALID_ID"),
      );
      await assert.rejects(
        setupNetwork({ pid: a.pid, mode: "bridge", bridge: "a-name-far-too-long", containerId: "x" }),
        isCode("NET_INVALID_NAME"),
      );
      assert.deepEqual(linkNames(a.exec), ["lo"]);
      assert.deepEqual(stateFiles(), []);
    });
  });
}
