// How `--disk` decides a disk's format (issue 14, item 2): never from the bytes a guest writes.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { encodeHeader, planLayout } from "./overlay-format.js";
import { OverlayDisk } from "./overlay.js";
import { RawDisk } from "./raw.js";
import { openDisk, parseDiskSpec } from "./open.js";
import type { DiskBackend } from "./backend.js";
import { BlkStatus } from "../devices/virtio/blk.js";
import { blkRig } from "../devices/virtio/testing/blk-driver.js";
import { scratchDir } from "../devices/virtio/testing/scratch-fs.js";

const SECRET = Buffer.from("host secret: the guest must never read this line\n".repeat(100));
const DISK = 1 << 20;

/** A host file the guest wants, and a raw disk for the guest. */
function scene(t: { after: (fn: () => void) => void }) {
  const dir = scratchDir(t, "diskfmt");
  const secret = join(dir, "secret");
  writeFileSync(secret, SECRET);
  const raw = join(dir, "guest.img");
  writeFileSync(raw, new Uint8Array(DISK));
  return { dir, secret, raw };
}

/** What a guest can build without any host access: a valid overlay header naming `target`. */
function forgedHeader(target: string): Uint8Array {
  const st = statSync(target, { bigint: true }); // the most a guest could hope to guess
  const virtualSize = 64 * 1024;
  return encodeHeader({
    virtualSize,
    clusterSize: 4096,
    ...planLayout(virtualSize, 4096),
    baseSize: Number(st.size),
    baseMtimeNs: st.mtimeNs,
    basePath: target,
  });
}

function readAll(d: DiskBackend): Buffer {
  const b = new Uint8Array(d.size);
  d.read(0, b);
  return Buffer.from(b);
}

const warnings = (): { list: string[]; warn: (m: string) => void } => {
  const list: string[] = [];
  return { list, warn: (m) => void list.push(m) };
};

test("a guest that writes an overlay header naming a host file onto its raw disk reads its own bytes after the next boot", (t) => {
  const s = scene(t);
  const header = forgedHeader(s.secret);
  // Boot 1: the guest writes the header at sector 0 through virtio-blk, as `dd of=/dev/vda` would.
  const first = openDisk(parseDiskSpec(s.raw));
  const rig = blkRig(first);
  assert.equal(rig.write(0, header), BlkStatus.OK);
  first.close();
  // The header is a valid overlay of the secret: opened as one, it shows the secret (the attack).
  const asOverlay = OverlayDisk.open(s.raw, { readOnly: true });
  assert.ok(readAll(asOverlay).subarray(0, SECRET.length).equals(SECRET));
  asOverlay.close();
  // Boot 2, as --disk opens it: raw, with a one-line warning; the guest sees its own header.
  const w = warnings();
  const second = openDisk(parseDiskSpec(s.raw), w);
  t.after(() => second.close());
  assert.ok(!(second instanceof OverlayDisk));
  assert.equal(second.size, DISK);
  const seen = blkRig(second).read(0, DISK / 512);
  assert.equal(seen.status, BlkStatus.OK);
  assert.ok(Buffer.from(seen.data.subarray(0, header.length)).equals(Buffer.from(header)));
  assert.equal(Buffer.from(seen.data).indexOf(SECRET.subarray(0, 40)), -1, "no byte of the secret");
  assert.equal(w.list.length, 1);
  assert.match(w.list[0]!, /guest\.img is a raw image that starts with the overlay magic.*attached as raw/);
  assert.doesNotMatch(w.list[0]!, /\n/);
});

test("an image with the overlay magic that Corral has no record of is refused until the operator names its format", (t) => {
  const s = scene(t);
  const img = Buffer.alloc(DISK);
  Buffer.from(forgedHeader(s.secret)).copy(img);
  writeFileSync(s.raw, img); // never attached: the record a first use makes does not exist
  assert.throws(
    () => openDisk(parseDiskSpec(s.raw)),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "DISK_FORMAT_UNKNOWN");
      assert.match(e.message, /no record.*guest\.img,format=overlay.*guest\.img,format=raw/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
  const raw = openDisk(parseDiskSpec(`${s.raw},ro,format=raw`));
  assert.ok(raw instanceof RawDisk && raw.readOnly);
  assert.ok(readAll(raw).equals(img));
  raw.close();
  // Named raw once, it is recorded as raw: no flag needed any more, and never an overlay.
  const w = warnings();
  openDisk(parseDiskSpec(`${s.raw},ro`), w).close();
  assert.equal(w.list.length, 1);
  assert.throws(() => openDisk(parseDiskSpec(`${s.raw},format=overlay`)), {
    code: "DISK_RECORDED_RAW",
    message: /written by its guest/,
  });
});

test("'corral image overlay' then --disk FILE needs no flag: Corral's record says overlay", (t) => {
  const s = scene(t);
  const ovl = join(s.dir, "vm1.img");
  OverlayDisk.create(ovl, s.raw);
  assert.ok(existsSync(`${ovl}.corral.json`));
  const d = openDisk(parseDiskSpec(ovl));
  assert.ok(d instanceof OverlayDisk);
  d.close();
});

test("an overlay made before records (or whose record was lost) is adopted only with format=overlay", (t) => {
  const s = scene(t);
  const ovl = join(s.dir, "old.ovl");
  OverlayDisk.create(ovl, s.raw);
  rmSync(`${ovl}.corral.json`);
  assert.throws(() => openDisk(parseDiskSpec(ovl)), { code: "DISK_FORMAT_UNKNOWN" });
  assert.ok(!existsSync(`${ovl}.corral.json`), "a refusal records nothing");
  const d = openDisk(parseDiskSpec(`${ovl},format=overlay`));
  assert.ok(d instanceof OverlayDisk);
  d.close();
  const again = openDisk(parseDiskSpec(ovl));
  assert.ok(again instanceof OverlayDisk, "recorded by the adoption");
  again.close();
});

test("a record about another file (the image was replaced) or a damaged record is no record", (t) => {
  const s = scene(t);
  const ovl = join(s.dir, "vm1.img");
  OverlayDisk.create(ovl, s.raw);
  const copy = join(s.dir, "copy.img");
  writeFileSync(copy, readFileSync(ovl));
  renameSync(copy, ovl); // the same bytes in another inode
  assert.throws(() => openDisk(parseDiskSpec(ovl)), { code: "DISK_FORMAT_UNKNOWN" });
  writeFileSync(`${ovl}.corral.json`, '{"version":1,"format":"overlay","overlay":{"dev":1}}');
  assert.throws(() => openDisk(parseDiskSpec(ovl)), { code: "DISK_FORMAT_UNKNOWN" });
  writeFileSync(`${ovl}.corral.json`, "not json");
  assert.throws(() => openDisk(parseDiskSpec(ovl)), { code: "DISK_FORMAT_UNKNOWN" });
});

test("an overlay whose recorded base was replaced by another file of the same size and time is refused", (t) => {
  const s = scene(t);
  const when = new Date(1_700_000_000_000);
  utimesSync(s.raw, when, when);
  const ovl = join(s.dir, "vm1.img");
  OverlayDisk.create(ovl, s.raw);
  const other = join(s.dir, "other.img");
  writeFileSync(other, Buffer.alloc(DISK, 0x55));
  utimesSync(other, when, when);
  renameSync(other, s.raw);
  // Size and modification time match what the header says: only the record tells.
  OverlayDisk.open(ovl, { readOnly: true }).close();
  assert.throws(() => openDisk(parseDiskSpec(ovl)), {
    code: "OVERLAY_BASE_CHANGED",
    message: /vm1\.img does not match Corral's record of it: base .*guest\.img was replaced/,
  });
  assert.throws(
    () => openDisk(parseDiskSpec(`${ovl},format=overlay`)),
    { code: "OVERLAY_BASE_CHANGED" },
    "naming the format does not skip the record",
  );
});

test("an overlay whose header was rewritten to name another base is refused before that base is opened", (t) => {
  const s = scene(t);
  const ovl = join(s.dir, "vm1.img");
  OverlayDisk.create(ovl, s.raw);
  const bytes = readFileSync(ovl);
  const forged = forgedHeader(s.secret);
  // Keep the real geometry; only the base fields change.
  Buffer.from(forged.subarray(56)).copy(bytes, 56);
  writeFileSync(ovl, bytes);
  rmSync(s.secret); // were it opened, the error would be DISK_NOT_FOUND
  assert.throws(() => openDisk(parseDiskSpec(ovl)), {
    code: "OVERLAY_RECORD_MISMATCH",
    message: /header is not the one Corral wrote/,
  });
});

test("a record is never attached as a disk: its guest could rewrite it to say 'overlay'", (t) => {
  const s = scene(t);
  openDisk(parseDiskSpec(`${s.raw},ro`)).close(); // first use: recorded as raw
  const record = `${s.raw}.corral.json`;
  assert.ok(existsSync(record));
  assert.throws(() => openDisk(parseDiskSpec(record)), {
    code: "DISK_IS_RECORD",
    message: /is Corral's record of a disk image, not a disk image/,
  });
  const link = join(s.dir, "innocent.img");
  symlinkSync(record, link);
  assert.throws(() => openDisk(parseDiskSpec(`${link},format=raw`)), { code: "DISK_IS_RECORD" });
});

test("--disk FILE[,ro][,format=raw|overlay] parses, options from the end", () => {
  assert.deepEqual(parseDiskSpec("a.img"), { path: "a.img" });
  assert.deepEqual(parseDiskSpec("a.img,ro"), { path: "a.img", readOnly: true });
  assert.deepEqual(parseDiskSpec("a,b.img"), { path: "a,b.img" });
  assert.deepEqual(parseDiskSpec("a.img,format=overlay"), { path: "a.img", format: "overlay" });
  assert.deepEqual(parseDiskSpec("a.img,ro,format=raw"), { path: "a.img", readOnly: true, format: "raw" });
  assert.deepEqual(parseDiskSpec("a.img,format=raw,ro"), { path: "a.img", readOnly: true, format: "raw" });
  assert.throws(() => parseDiskSpec("a.img,format=qcow2"), {
    code: "BAD_DISK_FORMAT",
    message: /raw or overlay, not 'qcow2'/,
  });
});

// Issue 14, item 5: an overlay (recorded or named) that is damaged is one line naming the file and
// the damage, never a raw or empty disk, and never a table allocated from a header's say-so.
const damages: { what: string; damage: (path: string, bytes: Buffer) => Buffer; code: string; message: RegExp }[] = [
  {
    what: "a bad magic",
    damage: (_p, b) => (b.write("NOTMAGIC", 0), b),
    code: "OVERLAY_CORRUPT",
    message: /bad magic/,
  },
  {
    what: "a bad version",
    damage: (_p, b) => (b.writeUint32LE(2, 8), b),
    code: "OVERLAY_VERSION",
    message: /format version 2; this Corral reads version 1/,
  },
  {
    what: "a truncated table",
    damage: (_p, b) => b.subarray(0, 4096 + 8),
    code: "OVERLAY_CORRUPT",
    message: /file is 4104 bytes but its header and cluster table need \d+: truncated/,
  },
  {
    what: "a file shorter than its header",
    damage: (_p, b) => b.subarray(0, 100),
    code: "OVERLAY_CORRUPT",
    message: /file is 100 bytes, shorter than the 4096-byte header/,
  },
  {
    what: "a header whose table lies far outside the file",
    damage: (_p, b) => {
      // A consistent geometry for a 1 PiB disk: 128 GiB of table that the file does not hold.
      const virtualSize = 2 ** 50;
      const plan = planLayout(virtualSize, 65536);
      b.writeBigUint64LE(BigInt(virtualSize), 16);
      b.writeBigUint64LE(BigInt(plan.tableEntries), 40);
      b.writeBigUint64LE(BigInt(plan.dataOffset), 48);
      return b;
    },
    code: "OVERLAY_CORRUPT",
    message: /cluster table need \d+: truncated/,
  },
  {
    what: "unknown flags",
    damage: (_p, b) => (b.writeUint32LE(1, 28), b),
    code: "OVERLAY_CORRUPT",
    message: /unknown flags 1/,
  },
];

for (const d of damages) {
  test(`an overlay with ${d.what} is refused in one line naming the file, recorded or named`, (t) => {
    const s = scene(t);
    const ovl = join(s.dir, "vm1.img");
    OverlayDisk.create(ovl, s.raw);
    writeFileSync(ovl, d.damage(ovl, readFileSync(ovl)));
    const check = (e: Error & { code?: string }): boolean => {
      assert.equal(e.code, d.code);
      assert.match(e.message, d.message);
      assert.ok(e.message.includes(ovl), e.message);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    };
    assert.throws(() => openDisk(parseDiskSpec(ovl)), check);
    rmSync(`${ovl}.corral.json`);
    assert.throws(() => openDisk(parseDiskSpec(`${ovl},format=overlay`)), check);
    assert.ok(!existsSync(`${ovl}.corral.json`), "a damaged overlay is not adopted");
  });
}
