/**
 * The APLIC (MSI mode) and the IMSIC together on a bus, as the board wires them: the APLIC's MSIs
 * are 32-bit writes on the bus that land in the IMSIC pages. Register layouts, the pending-bit
 * rules of the AIA spec, delegation, WARL fields, bad input, snapshots, and a fuzz of both
 * devices' MMIO windows. The Linux boot (tests/vm/aia.test.ts) and the bare-metal program checked
 * against QEMU (tests/isa/aia.S) cover the rest.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MmioBus } from "./bus.js";
import { APLIC_LAYOUT, APLIC_M_BASE, APLIC_NUM_SOURCES, APLIC_S_BASE, createAplic } from "./aplic.js";
import { HartImsic, Imsic, IMSIC_LAYOUT, IMSIC_NUM_IDS, ImsicFile, ISELECT } from "./imsic.js";
import { RecordingHart } from "./recording-hart.testkit.js";
import { Prng } from "./virtio/testing/prng.js";

const A = APLIC_LAYOUT;
const MEIP = 1 << 11;
const SEIP = 1 << 9;

function board(nHarts = 2): {
  bus: MmioBus;
  harts: RecordingHart[];
  files: HartImsic[];
  aplic: ReturnType<typeof createAplic>;
} {
  const bus = new MmioBus();
  const harts = Array.from({ length: nHarts }, (_, h) => new RecordingHart(h));
  const files = harts.map((h) => new HartImsic(new ImsicFile(h, MEIP), new ImsicFile(h, SEIP)));
  const aplic = createAplic((addr, data) => void bus.write(addr, 4, data));
  bus.map(APLIC_M_BASE, aplic.m);
  bus.map(APLIC_S_BASE, aplic.s);
  bus.map(
    IMSIC_LAYOUT.mBase,
    new Imsic(
      "m",
      files.map((f) => f.m),
      nHarts,
    ),
  );
  bus.map(
    IMSIC_LAYOUT.sBase,
    new Imsic(
      "s",
      files.map((f) => f.s),
      nHarts,
    ),
  );
  return { bus, harts, files, aplic };
}

/** Enable every identity of a file and its delivery, as Linux's IMSIC driver does per CPU. */
function openFile(f: ImsicFile): void {
  for (let k = 0; k < 8; k += 2) f.write(ISELECT.eie0 + k, -1, -1);
  f.write(ISELECT.eidelivery, 1, 0);
}
const pendingIds = (f: ImsicFile): number[] => {
  const ids: number[] = [];
  for (let k = 0; k < 8; k += 2) {
    const [lo, hi] = f.read(ISELECT.eip0 + k)!;
    for (let b = 0; b < 32; b++) {
      if ((lo >>> b) & 1) ids.push(32 * k + b);
      if ((hi >>> b) & 1) ids.push(32 * k + 32 + b);
    }
  }
  return ids;
};
const srcOff = (base: number, i: number): number => base + 4 * (i - 1);

test("layouts: the APLIC domain registers and the IMSIC pages where QEMU virt has them", () => {
  assert.deepEqual(
    [A.domaincfg, A.sourcecfg, A.mmsiaddrcfg, A.mmsiaddrcfgh, A.smsiaddrcfg, A.smsiaddrcfgh],
    [0, 4, 0x1bc0, 0x1bc4, 0x1bc8, 0x1bcc],
  );
  assert.deepEqual([A.setip, A.setipnum, A.inClrip, A.clripnum], [0x1c00, 0x1cdc, 0x1d00, 0x1ddc]);
  assert.deepEqual([A.setie, A.setienum, A.clrie, A.clrienum], [0x1e00, 0x1edc, 0x1f00, 0x1fdc]);
  assert.deepEqual([A.setipnumLe, A.setipnumBe, A.genmsi, A.target, A.size], [0x2000, 0x2004, 0x3000, 0x3004, 0x8000]);
  // sourcecfg[1023] and target[1023] end where the spec says: 0x0FFC and 0x3FFC.
  assert.equal(srcOff(A.sourcecfg, 1023), 0xffc);
  assert.equal(srcOff(A.target, 1023), 0x3ffc);
  assert.deepEqual([APLIC_M_BASE, APLIC_S_BASE, APLIC_NUM_SOURCES], [0x0c00_0000, 0x0d00_0000, 96]);
  assert.deepEqual(
    [IMSIC_LAYOUT.mBase, IMSIC_LAYOUT.sBase, IMSIC_LAYOUT.pageSize, IMSIC_LAYOUT.seteipnumLe, IMSIC_NUM_IDS],
    [0x2400_0000, 0x2800_0000, 0x1000, 0, 255],
  );
  assert.deepEqual(
    [ISELECT.eidelivery, ISELECT.eithreshold, ISELECT.eip0, ISELECT.eip63, ISELECT.eie0, ISELECT.eie63],
    [0x70, 0x72, 0x80, 0xbf, 0xc0, 0xff],
  );
  const { bus } = board(3);
  assert.equal(bus.find(IMSIC_LAYOUT.mBase + 2 * 0x1000)?.dev.name, "imsic-m");
  assert.equal(bus.find(IMSIC_LAYOUT.mBase + 3 * 0x1000), undefined, "no page for a fourth hart");
});

test("an IMSIC file: MSIs, eithreshold, claims, eidelivery driving the hart's bit", () => {
  const { bus, harts, files } = board(2);
  const f = files[1]!.s;
  for (let k = 0; k < 8; k += 2) f.write(ISELECT.eie0 + k, -1, -1);
  bus.write(IMSIC_LAYOUT.sBase + 0x1000, 4, 40);
  bus.write(IMSIC_LAYOUT.sBase + 0x1000, 4, 7);
  assert.deepEqual(pendingIds(f), [7, 40]);
  assert.equal(f.readTopei(), (7 << 16) | 7);
  assert.equal(harts[1]!.mip, 0, "delivery is off");
  f.write(ISELECT.eidelivery, 0xffff_ffff, 0);
  assert.deepEqual(f.read(ISELECT.eidelivery), [1, 0], "eidelivery is WARL: 0 or 1");
  assert.equal(harts[1]!.mip, SEIP);
  assert.equal(harts[0]!.mip, 0, "hart 0's files saw nothing");
  f.write(ISELECT.eithreshold, 7, 0);
  assert.equal(f.readTopei(), 0, "identities at or above eithreshold do not count");
  assert.equal(harts[1]!.mip, 0);
  f.write(ISELECT.eithreshold, 0, 0);
  f.claimTop();
  assert.equal(f.readTopei(), (40 << 16) | 40);
  f.claimTop();
  assert.equal(f.readTopei(), 0);
  assert.equal(harts[1]!.mip, 0);
  // eip0/eie0 bit 0 is identity 0, which does not exist; odd registers are RV32-only.
  f.write(ISELECT.eip0, 1, 0);
  assert.deepEqual(f.read(ISELECT.eip0), [0, 0]);
  assert.equal(f.read(ISELECT.eip0 + 1), undefined);
  assert.equal(f.write(ISELECT.eie0 + 1, 0, 0), false);
  assert.equal(f.read(0x71), undefined);
});

test("bad MSIs are ignored: identities beyond num-ids, zero, other offsets, missing pages, narrow writes", () => {
  const { bus, harts, files } = board(2);
  for (const hf of files) {
    openFile(hf.m);
    openFile(hf.s);
  }
  for (const v of [0, 256, 0x7ff, 0x1_0001, 0xffff_ffff]) bus.write(IMSIC_LAYOUT.mBase, 4, v);
  bus.write(IMSIC_LAYOUT.mBase + 4, 4, 0x0500_0000); // seteipnum_be: not on a little-endian-only system
  bus.write(IMSIC_LAYOUT.mBase + 8, 4, 5);
  bus.write(IMSIC_LAYOUT.mBase, 1, 5);
  bus.write(IMSIC_LAYOUT.mBase + 2, 2, 5);
  assert.equal(bus.write(IMSIC_LAYOUT.mBase + 2 * 0x1000, 4, 5), false, "a third hart's page is not decoded");
  assert.equal(bus.read(IMSIC_LAYOUT.mBase, 4), 0);
  for (const hf of files) assert.deepEqual([pendingIds(hf.m), pendingIds(hf.s)], [[], []]);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [0, 0],
  );
  bus.write(IMSIC_LAYOUT.mBase + 0x1000, 4, 255);
  assert.deepEqual(pendingIds(files[1]!.m), [255]);
});

/** The root and child set up as Corral's firmware does for a direct boot, Linux's view of the S domain. */
function firmwareBoard(nHarts = 2): ReturnType<typeof board> {
  const b = board(nHarts);
  b.aplic.m.setupAsFirmware(IMSIC_LAYOUT.mBase, IMSIC_LAYOUT.sBase, nHarts);
  for (const f of b.files) openFile(f.s);
  const s = b.aplic.s;
  s.write(A.domaincfg, 4, 1 << 8); // IE (DM reads 1 whatever is written)
  return b;
}

test("the APLIC forwards a level source as an MSI to the S-level file of the hart its target names", () => {
  const { aplic, files, harts } = firmwareBoard(2);
  const s = aplic.s;
  assert.equal(aplic.m.read(A.domaincfg, 4), 0x8000_0104, "root: IE on, DM = MSI mode");
  assert.equal(aplic.m.read(srcOff(A.sourcecfg, 10), 4), 0x400, "delegated to child 0");
  assert.equal(s.read(A.mmsiaddrcfg, 4), 0, "the MSI address configuration is the root's only");
  s.write(srcOff(A.sourcecfg, 10), 4, 6); // Level1
  s.write(srcOff(A.target, 10), 4, (1 << 18) | 33); // hart 1, EIID 33
  s.write(A.setienum, 4, 10);
  const line = aplic.m.irq(10);
  line.set(true);
  assert.deepEqual(pendingIds(files[1]!.s), [33]);
  assert.equal(harts[1]!.mip, SEIP);
  assert.deepEqual(pendingIds(files[0]!.s), []);
  assert.equal(s.read(A.setip, 4), 0, "forwarded: no longer pending");
  assert.equal(s.read(A.inClrip, 4), 1 << 10, "in_clrip reads the rectified input");
  files[1]!.s.claimTop();
  // Linux's EOI for a level source: setipnum_le again; still asserted, so a new MSI (AIA 4.9.2).
  s.write(A.setipnumLe, 4, 10);
  assert.deepEqual(pendingIds(files[1]!.s), [33]);
  files[1]!.s.claimTop();
  line.set(false);
  s.write(A.setipnumLe, 4, 10);
  assert.deepEqual(pendingIds(files[1]!.s), [], "not asserted: setipnum leaves a level source alone");
  // An edge source: a rising edge while disabled stays pending until enabled.
  s.write(srcOff(A.sourcecfg, 11), 4, 4);
  s.write(srcOff(A.target, 11), 4, 44);
  aplic.m.irq(11).set(true);
  assert.equal(s.read(A.setip, 4), 1 << 11);
  s.write(A.setie, 4, 1 << 11);
  assert.deepEqual(pendingIds(files[0]!.s), [44]);
  // Delivery off (IE = 0): pending and enabled, but no MSI until it comes back on.
  s.write(A.domaincfg, 4, 0);
  s.write(A.setipnum, 4, 11);
  assert.deepEqual(pendingIds(files[0]!.s), [44]);
  files[0]!.s.claimTop();
  assert.deepEqual(pendingIds(files[0]!.s), []);
  s.write(A.domaincfg, 4, 1 << 8);
  assert.deepEqual(pendingIds(files[0]!.s), [44]);
});

test("delegation: sources the root keeps are invisible in the child, and given back they start from zero", () => {
  const { aplic } = board(1);
  const { m, s } = aplic;
  m.write(srcOff(A.sourcecfg, 5), 4, 0x400);
  s.write(srcOff(A.sourcecfg, 5), 4, 6);
  s.write(srcOff(A.target, 5), 4, 9);
  assert.equal(s.read(srcOff(A.sourcecfg, 5), 4), 6);
  assert.equal(s.read(srcOff(A.target, 5), 4), 9);
  s.write(srcOff(A.sourcecfg, 6), 4, 6);
  assert.equal(s.read(srcOff(A.sourcecfg, 6), 4), 0, "not delegated: read-only zero");
  m.write(srcOff(A.sourcecfg, 5), 4, 6); // the root takes it back
  assert.equal(s.read(srcOff(A.sourcecfg, 5), 4), 0);
  m.write(srcOff(A.sourcecfg, 5), 4, 0x400);
  assert.equal(s.read(srcOff(A.sourcecfg, 5), 4), 0, "delegated anew: zero until written");
  assert.equal(s.read(srcOff(A.target, 5), 4), 0);
  // WARL: a leaf cannot delegate; reserved modes 2 and 3 are inactive; source 97 and 0 do not exist.
  s.write(srcOff(A.sourcecfg, 5), 4, 0x400);
  assert.equal(s.read(srcOff(A.sourcecfg, 5), 4), 0);
  for (const sm of [2, 3]) {
    m.write(srcOff(A.sourcecfg, 7), 4, sm);
    assert.equal(m.read(srcOff(A.sourcecfg, 7), 4), 0);
  }
  m.write(srcOff(A.sourcecfg, 97), 4, 6);
  assert.equal(m.read(srcOff(A.sourcecfg, 97), 4), 0);
  m.write(A.setienum, 4, 0);
  m.write(A.setipnum, 4, 1000);
  assert.equal(m.read(A.setie, 4), 0);
  // target: guest index (no H) and bit 11 read-only zero; inactive sources' targets too.
  m.write(srcOff(A.sourcecfg, 8), 4, 1);
  m.write(srcOff(A.target, 8), 4, 0xffff_ffff);
  assert.equal(m.read(srcOff(A.target, 8), 4), 0xfffc_07ff);
  assert.equal(m.read(srcOff(A.target, 9), 4), 0);
  // domaincfg: 0x80 in the top byte, DM = 1 fixed, BE read-only 0.
  m.write(A.domaincfg, 4, 0xffff_ffff);
  assert.equal(m.read(A.domaincfg, 4), 0x8000_0104);
  m.write(A.domaincfg, 4, 0);
  assert.equal(m.read(A.domaincfg, 4), 0x8000_0004);
});

test("MSIs to nowhere are dropped: a hart index beyond the harts, an EIID beyond the IMSIC, an address aimed at the APLIC itself", () => {
  const { aplic, files, bus } = firmwareBoard(3);
  const s = aplic.s;
  s.write(srcOff(A.sourcecfg, 1), 4, 1); // Detached: pending only by setipnum
  s.write(srcOff(A.target, 1), 4, (3 << 18) | 5); // hart 3 of 3: page 3 is not decoded
  s.write(A.setienum, 4, 1);
  s.write(A.setipnum, 4, 1);
  s.write(srcOff(A.target, 1), 4, (0 << 18) | 0x7ff); // EIID 2047: not an identity
  s.write(A.setipnum, 4, 1);
  s.write(A.genmsi, 4, (2 << 18) | 300);
  for (const f of files) assert.deepEqual(pendingIds(f.s), []);
  // The root's M-level MSI address aimed at its own setipnum_le: an MSI that makes itself
  // pending again. It neither recurses nor spins; the source stays pending.
  const m = aplic.m;
  m.write(A.mmsiaddrcfg, 4, (APLIC_M_BASE + A.setipnumLe) / 4096);
  m.write(A.mmsiaddrcfgh, 4, 0);
  m.write(srcOff(A.sourcecfg, 20), 4, 1);
  m.write(srcOff(A.target, 20), 4, 20);
  m.write(A.setienum, 4, 20);
  m.write(A.genmsi, 4, 20);
  m.write(A.setipnum, 4, 20);
  assert.equal(m.read(A.setip, 4), 1 << 20, "the MSI it sent itself left it pending");
  assert.equal(bus.read(APLIC_M_BASE + A.genmsi, 4), 20, "Busy never reads 1");
  // mmsiaddrcfgh.L locks the configuration.
  m.write(A.mmsiaddrcfgh, 4, 1 << 31);
  m.write(A.mmsiaddrcfg, 4, 0x1234);
  assert.equal(m.read(A.mmsiaddrcfg, 4), (APLIC_M_BASE + A.setipnumLe) / 4096);
});

test("snapshots: both domains and the interrupt files continue where they stopped", () => {
  const a = firmwareBoard(2);
  const s = a.aplic.s;
  s.write(srcOff(A.sourcecfg, 3), 4, 6);
  s.write(srcOff(A.target, 3), 4, (1 << 18) | 12);
  a.aplic.m.irq(3).set(true); // pending: not yet enabled
  a.files[0]!.s.write(ISELECT.eithreshold, 30, 0);
  const saved = {
    m: a.aplic.m.saveState(),
    s: s.saveState(),
    files: a.files.map((f) => [f.m.saveState(), f.s.saveState()]),
  };
  const b = board(2);
  b.aplic.m.restoreState(JSON.parse(JSON.stringify(saved.m)));
  b.aplic.s.restoreState(JSON.parse(JSON.stringify(saved.s)));
  b.files.forEach((f, i) => {
    f.m.restoreState(saved.files[i]![0]!);
    f.s.restoreState(saved.files[i]![1]!);
  });
  assert.deepEqual(b.files[0]!.s.read(ISELECT.eithreshold), [30, 0]);
  b.aplic.s.write(A.setienum, 4, 3);
  assert.deepEqual(pendingIds(b.files[1]!.s), [12]);
  assert.equal(b.harts[1]!.mip, SEIP);
  assert.throws(() => b.aplic.s.restoreState({ ...saved.s, ie: 3 }), { code: "SNAPSHOT_CORRUPT" });
});

test("fuzz: random accesses to both APLIC domains and both IMSIC windows never throw, and keep the fixed bits", () => {
  const { bus, files, aplic } = firmwareBoard(2);
  const rng = new Prng(0xa1a);
  const windows = [
    [APLIC_M_BASE, A.size],
    [APLIC_S_BASE, A.size],
    [IMSIC_LAYOUT.mBase, 0x2000],
    [IMSIC_LAYOUT.sBase, 0x2000],
  ] as const;
  const lines = Array.from({ length: APLIC_NUM_SOURCES }, (_, i) => aplic.m.irq(i + 1));
  for (let n = 0; n < 200_000; n++) {
    const [base, size] = windows[rng.u32() % windows.length]!;
    // Mostly the defined registers (the first 16 KiB, word aligned), sometimes anywhere.
    const off = rng.u32() % 4 === 0 ? rng.u32() % size : (rng.u32() % 0x1000) * 4;
    const sizeSel = ([1, 2, 4, 4, 4] as const)[rng.u32() % 5]!;
    const r = rng.u32() % 8;
    if (r === 0) lines[rng.u32() % lines.length]!.set((rng.u32() & 1) === 1);
    else if (r === 1) bus.read(base + (off & ~(sizeSel - 1)), sizeSel);
    else if (r === 2) {
      const f = files[rng.u32() % files.length]![rng.u32() & 1 ? "m" : "s"];
      const isel = rng.u32() % 0x200;
      if (rng.u32() & 1) f.read(isel);
      else f.write(isel, rng.u32() | 0, rng.u32() | 0);
      if ((rng.u32() & 7) === 0) f.claimTop();
    } else {
      // Values near the fields' edges as often as anything.
      const v = rng.u32() & 1 ? rng.u32() : [0, 1, 10, 96, 97, 255, 256, 0x400, 0x7ff, 0xffff_ffff][rng.u32() % 10]!;
      bus.write(base + (off & ~(sizeSel - 1)), sizeSel, v);
    }
  }
  for (const d of [aplic.m, aplic.s]) assert.equal((d.read(A.domaincfg, 4) & 0xff00_00ff) >>> 0, 0x8000_0004);
  for (const f of files) for (const file of [f.m, f.s]) assert.ok(file.top() <= IMSIC_NUM_IDS);
  for (let i = 1; i <= APLIC_NUM_SOURCES; i++)
    assert.equal(aplic.s.read(srcOff(A.sourcecfg, i), 4) & 0x400, 0, "the leaf never delegates");
});
