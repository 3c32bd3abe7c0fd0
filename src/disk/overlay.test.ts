import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OverlayDisk } from "./overlay.js";
import { OVERLAY_HEADER, OVERLAY_HEADER_SIZE, encodeHeader, decodeHeader, planLayout } from "./overlay-format.js";
import { RawDisk } from "./raw.js";
import { BlkStatus, BlkType } from "../devices/virtio/blk.js";
import { blkHeader, blkRig } from "../devices/virtio/testing/blk-driver.js";
import { BLOCK, blockContent, blockOffset } from "./testing/overlay-writer.js";
import { Prng } from "../devices/virtio/testing/prng.js";
import { scratchDir, smallTmpfs } from "../devices/virtio/testing/scratch-fs.js";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

function setup(t: { after: (fn: () => void) => void }, baseSize = 1 << 20) {
  const dir = scratchDir(t, "ovl");
  const base = join(dir, "base.img");
  const content = randomBytes(baseSize);
  writeFileSync(base, content);
  return { dir, base, content, overlay: join(dir, "vm.ovl") };
}

test("header layout: fields in order inside 4 KiB, encode/decode round trip", () => {
  let end = 0;
  for (const [name, f] of Object.entries(OVERLAY_HEADER)) {
    if (name === "size") continue;
    const field = f as { offset: number; size: number };
    assert.ok(field.offset >= end, name);
    end = field.offset + field.size;
  }
  assert.equal(end, OVERLAY_HEADER_SIZE);
  const h = {
    virtualSize: 10 << 20,
    clusterSize: 65536,
    ...planLayout(10 << 20, 65536),
    baseSize: 12345,
    baseMtimeNs: 1700000000123456789n,
    basePath: "/images/base.img",
  };
  assert.deepEqual(decodeHeader("x", encodeHeader(h)), h);
  assert.equal(h.tableEntries, 160);
  assert.equal(h.dataOffset, 65536);
});

test("reads fall back to the base, writes land in the overlay, the base never changes", (t) => {
  const s = setup(t);
  OverlayDisk.create(s.overlay, s.base, { clusterSize: 4096 * 4, size: 2 << 20 });
  const d = OverlayDisk.open(s.overlay);
  assert.equal(d.size, 2 << 20);
  const buf = new Uint8Array(8192);
  d.read(1000, buf);
  assert.deepEqual(Buffer.from(buf), s.content.subarray(1000, 1000 + 8192));
  const w = randomBytes(20000);
  d.write(12345, w); // partial clusters on both ends, crossing three clusters
  d.write((1 << 20) - 100, w.subarray(0, 300)); // straddles the end of the base
  const expect = Buffer.concat([s.content, Buffer.alloc(1 << 20)]);
  w.copy(expect, 12345);
  w.subarray(0, 300).copy(expect, (1 << 20) - 100);
  const all = new Uint8Array(2 << 20);
  d.read(0, all);
  assert.deepEqual(Buffer.from(all), expect);
  d.writeZeroes(16384 * 2, 16384 * 3 + 512); // three whole clusters and a bit
  expect.fill(0, 16384 * 2, 16384 * 5 + 512);
  d.discard(16384 * 10, 16384);
  expect.fill(0, 16384 * 10, 16384 * 11);
  d.read(0, all);
  assert.deepEqual(Buffer.from(all), expect);
  d.close();
  const again = OverlayDisk.open(s.overlay, { readOnly: true });
  again.read(0, all);
  assert.deepEqual(Buffer.from(all), expect, "everything survives close and reopen");
  assert.throws(() => again.write(0, new Uint8Array(512)), { code: "DISK_READ_ONLY" });
  again.close();
  assert.equal(sha(readFileSync(s.base)), sha(s.content), "base image byte-for-byte unchanged");
  assert.deepEqual(
    readdirSync(s.dir).sort(),
    ["base.img", "vm.ovl", "vm.ovl.corral.json"],
    "no temporary or lock files left, only Corral's record",
  );
});

test("locks: one writer per overlay, no writer on a base in use, many overlays per base", (t) => {
  const s = setup(t);
  OverlayDisk.create(s.overlay, s.base);
  OverlayDisk.create(join(s.dir, "vm2.ovl"), s.base);
  const a = OverlayDisk.open(s.overlay);
  const b = OverlayDisk.open(join(s.dir, "vm2.ovl"));
  assert.throws(() => OverlayDisk.open(s.overlay), { code: "DISK_IN_USE" });
  assert.throws(() => RawDisk.open(s.base), { code: "DISK_IN_USE" });
  const ro = RawDisk.open(s.base, { readOnly: true });
  ro.close();
  a.close();
  b.close();
  RawDisk.open(s.base).close();
});

test("a changed or missing base, a damaged overlay and bad options are refused clearly", (t) => {
  const s = setup(t);
  OverlayDisk.create(s.overlay, s.base);
  assert.throws(() => OverlayDisk.create(s.overlay, s.base), { code: "OVERLAY_EXISTS" });
  assert.throws(() => OverlayDisk.create(join(s.dir, "x.ovl"), join(s.dir, "none.img")), { code: "DISK_NOT_FOUND" });
  assert.throws(() => OverlayDisk.create(join(s.dir, "y.ovl"), s.base, { clusterSize: 1000 }), {
    code: "OVERLAY_CORRUPT",
  });
  utimesSync(s.base, new Date(2000, 1, 1), new Date(2000, 1, 1));
  assert.throws(() => OverlayDisk.open(s.overlay), { code: "OVERLAY_BASE_CHANGED", message: /recreate the overlay/ });
  rmSync(s.base);
  assert.throws(() => OverlayDisk.open(s.overlay), { code: "DISK_NOT_FOUND" });
  writeFileSync(s.base, s.content);
  rmSync(s.overlay);
  OverlayDisk.create(s.overlay, s.base);
  // Two entries naming one data cluster: a write to either would show in both.
  const pristine = readFileSync(s.overlay);
  const d = OverlayDisk.open(s.overlay);
  d.write(0, new Uint8Array(512).fill(9));
  d.close();
  const shared = readFileSync(s.overlay);
  shared.writeBigUint64LE(shared.readBigUint64LE(OVERLAY_HEADER_SIZE), OVERLAY_HEADER_SIZE + 8 * 5);
  writeFileSync(s.overlay, shared);
  assert.throws(() => OverlayDisk.open(s.overlay), {
    code: "OVERLAY_CORRUPT",
    message: /cluster 5: entry \d+ is another cluster's data too/,
  });
  writeFileSync(s.overlay, pristine);
  const raw = readFileSync(s.overlay);
  raw.writeBigUint64LE(123456789n, OVERLAY_HEADER_SIZE + 8); // entry 1 points nowhere
  writeFileSync(s.overlay, raw);
  assert.throws(() => OverlayDisk.open(s.overlay), { code: "OVERLAY_CORRUPT", message: /cluster 1/ });
  raw.write("NOTMAGIC", 0);
  writeFileSync(s.overlay, raw);
  assert.throws(() => OverlayDisk.open(s.overlay), { code: "OVERLAY_CORRUPT", message: /bad magic/ });
});

test("killed at random points, the overlay stays consistent and keeps every flushed write", async (t) => {
  const s = setup(t, 16 << 20);
  OverlayDisk.create(s.overlay, s.base, { clusterSize: 16384 });
  const writer = fileURLToPath(new URL("./testing/overlay-writer.js", import.meta.url));
  const rng = new Prng(0xdead_0003);
  const perRound = 600;
  const rounds: { start: number; flushed: number }[] = [];
  for (let r = 0; r < 6; r++) {
    const start = r * perRound;
    const child = spawn(process.execPath, [writer, s.overlay, String(start), "5", String(perRound)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    t.after(() => child.kill("SIGKILL"));
    const killAfter = 1 + rng.int(40);
    let flushed = start - 1;
    let lines = 0;
    let buffered = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^flushed (\d+)$/.exec(line);
        if (m) flushed = Number(m[1]);
        if (++lines >= killAfter || line === "done") child.kill("SIGKILL");
      }
    });
    await once(child, "exit");
    rounds.push({ start, flushed });
  }
  const d = OverlayDisk.open(s.overlay); // the table is checked entry by entry on open
  t.after(() => d.close());
  const written = new Map<number, number>();
  for (const { start } of rounds) for (let i = start; i < start + perRound; i++) written.set(blockOffset(i, d.size), i);
  const got = new Uint8Array(BLOCK);
  let durable = 0;
  for (let off = 0; off < d.size; off += BLOCK) {
    d.read(off, got);
    const base = s.content.subarray(off, off + BLOCK);
    const i = written.get(off);
    if (i === undefined) {
      assert.deepEqual(Buffer.from(got), base, `block at ${off} was never written`);
      continue;
    }
    const round = rounds[Math.floor(i / perRound)]!;
    const isNew = Buffer.from(got).equals(Buffer.from(blockContent(i)));
    if (i <= round.flushed) {
      assert.ok(isNew, `block ${i} was flushed before the kill but is lost`);
      durable++;
    } else assert.ok(isNew || Buffer.from(got).equals(base), `block ${i} is neither old nor new data`);
  }
  assert.ok(durable > 0);
  assert.equal(sha(readFileSync(s.base)), sha(s.content));
});

test("a full host disk gives the guest IOERR and leaves the overlay consistent", (t) => {
  const mnt = smallTmpfs(t, "512k");
  if (mnt === null) return;
  const s = setup(t, 4 << 20);
  const ovl = join(mnt, "vm.ovl");
  OverlayDisk.create(ovl, s.base, { clusterSize: 16384 });
  const rig = blkRig(OverlayDisk.open(ovl));
  const expect = Buffer.from(s.content);
  try {
    let ok = 0;
    let status = BlkStatus.OK as number;
    // One cluster per write, so the failing write changes nothing at all.
    for (let sector = 0; status === BlkStatus.OK; sector += 32) {
      const data = randomBytes(32 * 512);
      status = rig.write(sector, data);
      if (status === BlkStatus.OK) {
        data.copy(expect, sector * 512);
        ok++;
      }
    }
    assert.equal(status, BlkStatus.IOERR, "the write that found the disk full failed");
    assert.ok(ok > 0);
    assert.equal(
      rig.raw([blkHeader(BlkType.FLUSH, 0)], [1]).status,
      BlkStatus.OK,
      "flushing what was written still works",
    );
    const r = rig.read(0, 8);
    assert.equal(r.status, BlkStatus.OK, "the device keeps serving reads");
  } finally {
    rig.transport.close(); // before the unmount
  }
  const d = OverlayDisk.open(ovl, { readOnly: true });
  const all = new Uint8Array(4 << 20);
  try {
    d.read(0, all);
  } finally {
    d.close();
  }
  assert.ok(Buffer.from(all).equals(expect), "acknowledged writes are there, the failed one left the base showing");
});
