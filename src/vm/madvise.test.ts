// Guest RAM offered to KSM, checked in this process's own /proc/self/smaps (no guest needed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { GuestRam } from "../machine/memory.js";
import { readSmaps } from "../sys/smaps.js";
import { ramHostRange, ramPages, shareMemoryDefault, shareRam } from "./madvise.js";

test("shareRam marks exactly the RAM's range of the wasm memory mergeable (VmFlags mg), not the harts' area", () => {
  const ram = new GuestRam(16 * 2 ** 20);
  assert.equal(ramPages(ram)?.mergeable, false);
  const r = shareRam(ram);
  assert.deepEqual(r, ramHostRange(ram));
  assert.equal(r.len, ram.size);
  const maps = readSmaps().filter((m) => m.vmFlags.includes("mg") && m.start < r.start + r.len && m.end > r.start);
  assert.equal(maps.length, 1);
  assert.deepEqual([maps[0]!.start, maps[0]!.end], [r.start, r.start + r.len]);
  const before = readSmaps().find((m) => m.end === r.start);
  assert.ok(before && !before.vmFlags.includes("mg"), "the mapping in front (registers, TLBs) is not offered");
  ram.u8.fill(7, 0, 2 ** 20);
  const p = ramPages(ram)!;
  assert.equal(p.mergeable, true);
  assert.ok(p.resident >= 2 ** 20 && p.private >= 2 ** 20, JSON.stringify(p));
});

test("CORRAL_SHARE_MEMORY: 1/on/true share by default, 0/off/unset do not, anything else is refused", () => {
  for (const v of ["1", "on", "true", " TRUE "]) assert.equal(shareMemoryDefault({ CORRAL_SHARE_MEMORY: v }), true);
  for (const v of ["0", "off", "false", ""]) assert.equal(shareMemoryDefault({ CORRAL_SHARE_MEMORY: v }), false);
  assert.equal(shareMemoryDefault({}), false);
  assert.throws(
    () => shareMemoryDefault({ CORRAL_SHARE_MEMORY: "maybe" }),
    /CORRAL_SHARE_MEMORY='maybe' is not a setting/,
  );
});
