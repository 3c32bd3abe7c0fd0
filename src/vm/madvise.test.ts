// Guest RAM offered to KSM, checked in this process's own /proc/self/smaps (no guest needed);
// pages released from RAM in a memory file, checked in the file's own blocks.
import assert from "node:assert/strict";
import { fstatSync } from "node:fs";
import { test } from "node:test";
import { GuestRam, RAM_BASE } from "../machine/memory.js";
import { readSmaps } from "../sys/smaps.js";
import { ramHostRange, ramPages, releaseRange, shareMemoryDefault, shareRam } from "./madvise.js";

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

// Released pages of RAM in a memory file (GuestRam.backWithFile) leave the file, not only the
// mapping (MADV_REMOVE: DONTNEED would leave them, and their bytes, in the file).
test("pages released from RAM in a memory file read as zeros and leave the file", () => {
  const SIZE = 64 * 4096;
  const filled = (): GuestRam => {
    const ram = new GuestRam(SIZE);
    assert.equal(ram.backWithFile(), true);
    ram.fill(RAM_BASE, SIZE, 0x5a);
    return ram;
  };
  // Freezing keeps the file's blocks as they are: only to look at them.
  const held = fstatSync(filled().freezeFile()!).blocks;
  const ram = filled();
  assert.equal(releaseRange(ram, RAM_BASE + 4 * 4096, 32 * 4096), 32 * 4096);
  // Before any read: a read of a hole of a shared mapping of a memory file allocates a page.
  assert.equal(fstatSync(ram.freezeFile()!).blocks, held - (32 * 4096) / 512);
  assert.equal(ram.readU8(RAM_BASE + 4 * 4096 - 1), 0x5a);
  assert.equal(ram.readU8(RAM_BASE + 4 * 4096), 0);
  assert.equal(ram.readU8(RAM_BASE + 36 * 4096 - 1), 0);
  assert.equal(ram.readU8(RAM_BASE + 36 * 4096), 0x5a);
});
