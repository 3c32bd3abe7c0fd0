import { test } from "node:test";
import assert from "node:assert/strict";
import { CorralError } from "../errors.js";
import { defaultMac, parseNetSpec, withNetCmdline } from "./attach.js";

test("--net specs: tap, switch, mac=; bad ones are BAD_NET", () => {
  assert.deepEqual(parseNetSpec("tap"), { kind: "tap" });
  assert.deepEqual(parseNetSpec("tap:ctap0"), { kind: "tap", name: "ctap0" });
  assert.deepEqual(parseNetSpec("switch:lab,mac=52:54:00:AB:CD:EF"), {
    kind: "switch",
    name: "lab",
    mac: "52:54:00:ab:cd:ef",
  });
  assert.deepEqual(parseNetSpec("switch:lab,offload=off"), { kind: "switch", name: "lab", offload: false });
  assert.deepEqual(parseNetSpec("switch:lab,offload=on"), { kind: "switch", name: "lab" });
  for (const bad of [
    "switch",
    "switch:",
    "switch:../x",
    "bridge:br0",
    "tap:a:b",
    "switch:lab,mtu=9000",
    "switch:lab,mac=52:54:00",
    "switch:lab,mac=01:00:5e:00:00:01",
    "tap:t0,offload=off",
    "switch:lab,offload=maybe",
  ]) {
    assert.throws(
      () => parseNetSpec(bad),
      (e: unknown) => e instanceof CorralError && e.code === "BAD_NET",
      bad,
    );
  }
});

test("default MACs: locally administered unicast, distinct per VM (pid) and NIC", () => {
  const seen = new Set<string>();
  for (const pid of [1, 2, 4_194_304, 12345]) {
    for (let nic = 0; nic < 8; nic++) {
      const mac = defaultMac(nic, pid);
      assert.match(mac, /^52:54(:[0-9a-f]{2}){4}$/);
      assert.ok(!seen.has(mac), mac);
      seen.add(mac);
    }
  }
});

test("ip=dhcp is added unless the user chose ip= already", () => {
  assert.equal(withNetCmdline("console=ttyS0 quiet", "ip=dhcp"), "console=ttyS0 quiet ip=dhcp");
  assert.equal(
    withNetCmdline("console=ttyS0 ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off", "ip=dhcp"),
    "console=ttyS0 ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off",
  );
  assert.equal(withNetCmdline("console=ttyS0", ""), "console=ttyS0");
});
