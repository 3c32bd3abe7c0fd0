import assert from "node:assert/strict";
import { test } from "node:test";
import { VirtioNet } from "../devices/virtio/net.js";
import { parseVmSpec } from "../vm/spec.js";
import { cloneDevices, macChanges, reidentifyScript } from "./clone-net.js";

const spec = parseVmSpec({
  name: "p",
  devices: [
    { kind: "net", backend: { type: "switch", switch: "lan" }, mac: "52:54:00:00:00:01" },
    { kind: "net", backend: { type: "tap", ifname: "vmtap12" }, mac: "52:54:00:00:00:02" },
    { kind: "net", backend: { type: "tap", ifname: "vm%d" }, mac: "52:54:00:00:00:03" },
    {
      kind: "net",
      backend: { type: "user", forwards: [{ proto: "tcp", hostPort: 8080, guestPort: 80 }] },
      mac: "52:54:00:00:00:04",
    },
  ],
});

test("a clone's NICs: switch and TAP without their MAC (TAP names numbered anew), user-mode without forwards", () => {
  const c = cloneDevices(spec.devices);
  assert.deepEqual(c[0], { kind: "net", backend: { type: "switch", switch: "lan" } });
  assert.deepEqual(c[1], { kind: "net", backend: { type: "tap", ifname: "vmtap%d" } });
  assert.deepEqual(c[2], { kind: "net", backend: { type: "tap", ifname: "vm%d" } });
  // User-mode: a private network; the MAC stays, the host ports stay with the parent.
  assert.deepEqual(c[3], { ...spec.devices[3], backend: { type: "user" } });
  // Anything else is untouched, and the clone's spec is still a valid spec.
  assert.deepEqual(c.slice(4), spec.devices.slice(4));
  assert.doesNotThrow(() => parseVmSpec({ ...spec, devices: c }));
});

test("macChanges: only NICs whose MAC differs from the snapshot's; the script names them", () => {
  const wire = { send: () => {}, onReceive: () => {} };
  const nics = [
    new VirtioNet({ backend: wire, mac: "52:54:00:00:00:aa" }),
    new VirtioNet({ backend: wire, mac: "52:54:00:00:00:02" }),
  ];
  const changes = macChanges(spec.devices, nics);
  assert.deepEqual(
    changes.map((c) => [c.from, c.to]),
    [["52:54:00:00:00:01", "52:54:00:00:00:aa"]],
  );
  assert.equal(reidentifyScript([]), "");
  assert.match(reidentifyScript(changes), /corral_reid 52:54:00:00:00:01 52:54:00:00:00:aa/);
  assert.throws(() => reidentifyScript([{ ...changes[0]!, to: "x; reboot" }]), RangeError);
});
