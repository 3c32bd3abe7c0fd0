// Guest RAM as devices see it: bounds-checked access, and every way a device writes (write, fill,
// a DMA view) drops the code cached from the pages it touches, so a disk read over a page of
// cached code cannot leave stale blocks behind (exec.ts keys blocks by RAM page).
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GuestMemoryError, GuestRam, RAM_BASE } from "./memory.js";
import { pageRuns, writeOverlay } from "../snapshot/write.js";

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
  // A later fork of the parent finds no live file (it links the frozen one again: the test below).
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

// A later fork (src/snapshot/write.ts): the file the first fork froze, which no one wrote since,
// and an overlay of the pages the parent wrote since, laid over it in each clone. Real mappings,
// a real memfd and a real overlay file on tmpfs, as a fork's snapshot has them.
test("a later fork: the frozen file and the pages written since are the parent's RAM, and no one's writes reach another", () => {
  const SIZE = 64 * 4096;
  const page = (r: GuestRam, p: number): Buffer => Buffer.from(r.slice(RAM_BASE + p * 4096, 4096));
  const parent = new GuestRam(SIZE);
  assert.equal(parent.backWithFile(), true);
  assert.equal(parent.frozenBase(), undefined, "a live file is frozen, not a base");
  parent.write(RAM_BASE + 0x1000, Buffer.from("first fork"));
  parent.fill(RAM_BASE + 5 * 4096, 4096, 7);
  parent.fill(RAM_BASE + 3 * 4096, 4096, 3);
  const fd = parent.freezeFile()!;
  // Since the first fork: a page the file holds, a page of it zeroed, a hole of it, a run of three.
  parent.write(RAM_BASE + 0x1000, Buffer.from("later fork"));
  parent.fill(RAM_BASE + 5 * 4096, 4096, 0);
  parent.writeU32(RAM_BASE + 9 * 4096 + 8, 0xabcd1234);
  parent.fill(RAM_BASE + 20 * 4096, 3 * 4096, 0x5a);
  const base = parent.frozenBase()!;
  assert.equal(base.fd, fd);
  const runs = pageRuns(base.written);
  assert.deepEqual(runs, [
    [1, 1],
    [5, 1],
    [9, 1],
    [20, 3],
  ]);
  const dir = mkdtempSync(join("/dev/shm", "corral-overlay-test-"));
  try {
    const part = writeOverlay(join(dir, "ram-overlay.bin"), parent.u8, runs);
    // tmpfs reports exactly the runs written (SEEK_DATA), so the overlay is taken.
    assert.equal(part?.size, SIZE);
    const clone = (shared = false): GuestRam => {
      const r = new GuestRam(SIZE, RAM_BASE, { shared });
      const f = openSync(`/proc/${process.pid}/fd/${fd}`, "r");
      const o = openSync(join(dir, "ram-overlay.bin"), "r");
      try {
        // RAM shared between hart threads cannot be mapped: both files are read in.
        assert.equal(r.loadFrom(f, o), shared ? "copied" : "mapped");
      } finally {
        closeSync(f);
        closeSync(o);
      }
      return r;
    };
    const a = clone();
    const b = clone();
    const c = clone(true);
    for (const r of [a, b, c])
      for (let p = 0; p < SIZE / 4096; p++) assert.deepEqual(page(r, p), page(parent, p), `page ${p}`);
    // Writes after the later fork: in the parent, in a clone on an overlay page and on a base page.
    parent.fill(RAM_BASE + 21 * 4096, 4096, 1);
    a.fill(RAM_BASE + 9 * 4096, 4096, 2);
    a.fill(RAM_BASE + 3 * 4096, 4096, 4);
    assert.equal(page(b, 21)[0], 0x5a);
    assert.equal(page(a, 21)[0], 0x5a);
    assert.equal(page(parent, 9).readUInt32LE(8), 0xabcd1234);
    assert.equal(page(b, 9).readUInt32LE(8), 0xabcd1234);
    assert.equal(page(parent, 3)[0], 3);
    assert.equal(page(b, 3)[0], 3);
    assert.equal(page(a, 21)[0], 0x5a);
    // Neither file changed: the base still holds the first fork's RAM, the overlay the later one's.
    const read = (f: number, at: number, n: number): Buffer => {
      const buf = Buffer.alloc(n);
      readSync(f, buf, 0, n, at);
      return buf;
    };
    assert.equal(read(fd, 0x1000, 10).toString(), "first fork");
    assert.equal(read(fd, 3 * 4096, 1)[0], 3);
    const o = openSync(join(dir, "ram-overlay.bin"), "r");
    try {
      assert.equal(read(o, 9 * 4096 + 8, 4).readUInt32LE(0), 0xabcd1234);
      assert.equal(read(o, 21 * 4096, 1)[0], 0x5a);
    } finally {
      closeSync(o);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
