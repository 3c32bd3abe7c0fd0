// Guest RAM as devices see it: bounds-checked access, and every way a device writes (write, fill,
// a DMA view) drops the code cached from the pages it touches, so a disk read over a page of
// cached code cannot leave stale blocks behind (exec.ts keys blocks by RAM page).
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readSync } from "node:fs";
import { GuestMemoryError, GuestRam, RAM_BASE } from "./memory.js";

function ramWithCode(pages: number[]): { ram: GuestRam; dropped: number[] } {
  const ram = new GuestRam(16 * 4096);
  const dropped: number[] = [];
  for (const p of pages) ram.codePages[p] = 1;
  ram.onCodeWrite = (p) => dropped.push(p);
  return { ram, dropped };
}

test("a DMA view drops the cached code of each page it covers, and only those", () => {
  const { ram, dropped } = ramWithCode([2, 3, 5, 9]);
  // Bytes 0x2ff0..0x5010: pages 2 to 5 (page 4 holds no code).
  const view = ram.dmaTarget(RAM_BASE + 0x2ff0, 0x2020);
  assert.deepEqual(dropped, [2, 3, 5]);
  view.fill(0xab);
  assert.equal(ram.u8[0x2ff0], 0xab);
  assert.equal(ram.u8[0x500f], 0xab);
  assert.equal(ram.u8[0x5010], 0);
  assert.equal(ram.u8[0x2fef], 0);
});

test("write and fill drop cached code as a DMA view does", () => {
  const { ram, dropped } = ramWithCode([1, 7]);
  ram.write(RAM_BASE + 0x1ffe, Uint8Array.of(1, 2, 3));
  ram.fill(RAM_BASE + 0x7000, 1, 0);
  ram.fill(RAM_BASE + 0x8000, 4096, 0);
  assert.deepEqual(dropped, [1, 7]);
});

test("ranges outside guest RAM are refused before anything is touched", () => {
  const { ram, dropped } = ramWithCode([15]);
  for (const [gpa, len] of [
    [RAM_BASE + 15 * 4096, 4097],
    [RAM_BASE - 1, 2],
    [0, 16],
    [RAM_BASE + 0.5, 1],
  ] as const) {
    assert.throws(() => ram.dmaTarget(gpa, len), GuestMemoryError);
    assert.throws(() => ram.write(gpa, new Uint8Array(len)), GuestMemoryError);
  }
  assert.deepEqual(dropped, []);
});

// RAM in a memory file, frozen for a fork (GuestRam.backWithFile, freezeFile): real mappings of a
// real memfd. A "clone" is a second RAM mapping the frozen file privately, opened the way a
// clone's process opens it (/proc/PID/fd/FD), as src/snapshot/write.ts links it.
test("a fork's frozen RAM file: writes in the parent, a clone or another clone never reach the others", () => {
  const SIZE = 64 * 4096;
  const parent = new GuestRam(SIZE);
  assert.equal(parent.backWithFile(), true);
  assert.equal(parent.fileShared, true);
  parent.write(RAM_BASE + 0x1000, Buffer.from("before the fork"));
  parent.writeU64(RAM_BASE + 0x3f000, 0x1122334455667788n);
  const fd = parent.freezeFile();
  assert.notEqual(fd, undefined);
  assert.equal(parent.fileShared, false);
  // Frozen once: a second call has no live file to give.
  assert.equal(parent.freezeFile(), undefined);
  const clone = (): GuestRam => {
    const r = new GuestRam(SIZE);
    const f = openSync(`/proc/${process.pid}/fd/${fd!}`, "r");
    try {
      assert.equal(r.loadFrom(f), "mapped");
    } finally {
      closeSync(f);
    }
    return r;
  };
  const a = clone();
  const b = clone();
  const text = (r: GuestRam): string => Buffer.from(r.slice(RAM_BASE + 0x1000, 15)).toString();
  for (const r of [parent, a, b]) {
    assert.equal(text(r), "before the fork");
    assert.equal(r.readU64(RAM_BASE + 0x3f000), 0x1122334455667788n);
  }
  // Each writes the same page (one the file holds) and a page it never had (a hole of the file).
  parent.write(RAM_BASE + 0x1000, Buffer.from("parent after it"));
  a.write(RAM_BASE + 0x1000, Buffer.from("clone a wrote  "));
  b.writeU32(RAM_BASE + 0x20000, 0xdeadbeef);
  parent.writeU32(RAM_BASE + 0x21000, 0xfeedface);
  assert.equal(text(parent), "parent after it");
  assert.equal(text(a), "clone a wrote  ");
  assert.equal(text(b), "before the fork");
  assert.equal(a.readU32(RAM_BASE + 0x20000), 0);
  assert.equal(parent.readU32(RAM_BASE + 0x20000), 0);
  assert.equal(b.readU32(RAM_BASE + 0x20000), 0xdeadbeef);
  assert.equal(a.readU32(RAM_BASE + 0x21000), 0);
  assert.equal(b.readU32(RAM_BASE + 0x21000), 0);
  // The file itself still holds the RAM of the moment of the fork.
  const inFile = Buffer.alloc(15);
  readSync(fd!, inFile, 0, 15, 0x1000);
  assert.equal(inFile.toString(), "before the fork");
  const hole = Buffer.alloc(4, 0xff);
  readSync(fd!, hole, 0, 4, 0x20000);
  assert.deepEqual([...hole], [0, 0, 0, 0]);
  // A later fork of the parent finds no live file (it writes RAM out: write.ts).
  assert.equal(parent.freezeFile(), undefined);
});

test("dataPages: the pages of RAM in a memory file that may hold data, live and after a fork froze it", () => {
  const SIZE = 256 * 4096;
  const anon = new GuestRam(SIZE);
  assert.equal(anon.dataPages(), undefined);
  const ram = new GuestRam(SIZE);
  assert.equal(ram.backWithFile(), true);
  ram.writeU8(RAM_BASE + 3 * 4096 + 7, 1);
  ram.fill(RAM_BASE + 100 * 4096, 3 * 4096, 2);
  const marked = (): number[] => [...ram.dataPages()!.entries()].filter(([, v]) => v).map(([p]) => p);
  assert.deepEqual(marked(), [3, 100, 101, 102]);
  ram.freezeFile();
  // Written after the fork: pages of the parent's own, marked from /proc/self/pagemap.
  ram.writeU8(RAM_BASE + 200 * 4096, 3);
  assert.deepEqual(marked(), [3, 100, 101, 102, 200]);
});
