/** `corral vf NAME set VF ...` and `--net ...,vfs=N` as the VM process receives them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseVfSettings } from "./vf.js";
import { netDevice } from "../vm/options.js";

test("corral vf set: each setting into the /vfs body; a bad one is a usage error", () => {
  assert.deepEqual(
    parseVfSettings("1", ["mac=5a:54:00:00:00:01", "vlan=5", "rate=10M", "spoofchk=off", "trust=on", "state=disable"]),
    { vf: "1", mac: "5a:54:00:00:00:01", vlan: 5, rate: 10 * 2 ** 20, spoofchk: false, trust: true, state: "disable" },
  );
  assert.deepEqual(parseVfSettings("eth0vf0", ["rate=off"]), { vf: "eth0vf0", rate: null });
  for (const bad of [["vlan=4095"], ["trust=yes"], ["state=up"], ["speed=1"], []])
    assert.throws(
      () => parseVfSettings("0", bad),
      (e: Error & { code?: string }) => e.code === "USAGE",
      bad.join(),
    );
});

test("--net switch:NAME,transport=pci,vfs=N is recorded in the spec; out of range is refused", () => {
  assert.deepEqual(netDevice("switch:lan,transport=pci,vfs=4"), {
    kind: "net",
    backend: { type: "switch", switch: "lan" },
    transport: "pci",
    vfs: 4,
  });
  for (const n of ["0", "33", "x"])
    assert.throws(() => netDevice(`switch:lan,vfs=${n}`), /vfs= takes a number of VFs from 1 to 32/);
});
