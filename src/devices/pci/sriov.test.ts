/**
 * The SR-IOV capability (PCIe 4.0 §9.3.3) of a virtio-pci physical function, driven through the
 * bridge's ECAM as Linux's drivers/pci/iov.c does: TotalVFs, page sizes, VF BAR sizing, NumVFs,
 * offset and stride, then VF Enable and VF MSE. VFs read all ones before enable, appear at their
 * routing IDs after it, decode their BARs at VF BARn + k * size, and vanish on disable. NumVFs
 * above TotalVFs and random writes leave the host standing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PciHostBridge } from "./host-bridge.js";
import { VirtioPciFunction } from "./virtio-pci.js";
import { VirtioSriov } from "./virtio-sriov.js";
import { ExtCapId, SRIOV_CAP, SriovControl } from "./layout.js";
import { VirtioRng } from "../virtio/rng.js";
import { makeRam } from "../virtio/testing/mock-driver.js";
import { Prng } from "../virtio/testing/prng.js";
import { FeatureBit } from "../virtio/spec.js";

const F = SRIOV_CAP.fields;
const ecam = (devfn: number, reg: number): number => (devfn << 12) | reg;
const PF = 1 << 3;

function board(vfs = 4): { bridge: PciHostBridge; sriov: VirtioSriov; cap: number } {
  const bridge = new PciHostBridge({ intx: [0, 1, 2, 3].map(() => ({ set() {} })), ramEnd: 0xa000_0000 });
  const memory = makeRam();
  const pf = new VirtioPciFunction({ device: new VirtioRng(), memory, msi: () => {} });
  bridge.attach(1, 0, pf.fn);
  const sriov = new VirtioSriov({
    bridge,
    pf,
    pfDevfn: PF,
    firstDevfn: 2 << 3,
    vfs: Array.from({ length: vfs }, () => new VirtioRng()),
    memory,
    msi: () => {},
  });
  // Walk the extended list as pci_find_ext_capability does.
  let at = 0x100;
  while ((bridge.ecam.read(ecam(PF, at), 4) & 0xffff) !== ExtCapId.SRIOV) {
    at = bridge.ecam.read(ecam(PF, at), 4) >>> 20;
    assert.notEqual(at, 0, "SR-IOV capability in the extended list");
  }
  return { bridge, sriov, cap: at };
}

test("layout: the SR-IOV capability is 64 bytes at Linux's PCI_SRIOV_* offsets", () => {
  assert.equal(SRIOV_CAP.size, 0x40);
  assert.equal(F.numVfs.offset, 0x10);
  assert.equal(F.vfDeviceId.offset, 0x1a);
  assert.equal(F.systemPageSize.offset, 0x20);
  assert.equal(F.vfBar0.offset, 0x24);
  assert.equal(F.vfMigrationState.offset, 0x3c);
});

test("a PF's capability: TotalVFs, VF device ID, page sizes, VF BAR sizing; VFs absent before enable", () => {
  const { bridge, cap } = board();
  const e = bridge.ecam;
  const r = (off: number, size: 1 | 2 | 4 = 2): number => e.read(ecam(PF, cap + off), size);
  assert.equal((e.read(ecam(PF, cap), 4) >>> 16) & 0xf, 1, "version 1");
  assert.equal(r(F.totalVfs.offset), 4);
  assert.equal(r(F.initialVfs.offset), 4);
  assert.equal(r(F.vfDeviceId.offset), 0x1044, "VFs of virtio-rng: 0x1040 + 4");
  assert.equal(r(F.firstVfOffset.offset), (2 << 3) - PF);
  assert.equal(r(F.vfStride.offset), 1);
  assert.equal(r(F.supportedPageSizes.offset, 4) & 1, 1, "4 KiB supported");
  assert.equal(r(F.systemPageSize.offset, 4), 1);
  // Sizing VF BAR 4 (64-bit prefetchable, 16 KiB) and VF BAR 1 (32-bit, 4 KiB) as __pci_read_base does.
  const bar = (i: number): number => cap + F.vfBar0.offset + 4 * i;
  e.write(ecam(PF, bar(4)), 4, 0xffffffff);
  e.write(ecam(PF, bar(5)), 4, 0xffffffff);
  assert.equal(e.read(ecam(PF, bar(4)), 4), ((~0x3fff & 0xfffffff0) | 0xc) >>> 0);
  assert.equal(e.read(ecam(PF, bar(5)), 4), 0xffffffff);
  e.write(ecam(PF, bar(1)), 4, 0xffffffff);
  assert.equal(e.read(ecam(PF, bar(1)), 4), (~0xfff & 0xfffffff0) >>> 0);
  assert.equal(e.read(ecam(PF, bar(0)), 4), 0, "an unimplemented VF BAR reads 0");
  // A larger system page makes each VF's BAR at least a page (§9.3.3.14).
  e.write(ecam(PF, cap + F.systemPageSize.offset), 4, 0x10);
  e.write(ecam(PF, bar(1)), 4, 0xffffffff);
  assert.equal(e.read(ecam(PF, bar(1)), 4), (~0xffff & 0xfffffff0) >>> 0, "64 KiB pages");
  e.write(ecam(PF, cap + F.systemPageSize.offset), 4, 0x3);
  assert.equal(r(F.systemPageSize.offset, 4), 0x10, "two bits at once is not a page size: ignored");
  e.write(ecam(PF, cap + F.systemPageSize.offset), 4, 1);
  for (let k = 0; k < 4; k++) assert.equal(e.read(ecam((2 << 3) + k, 0), 4), 0xffffffff, `VF ${k} absent`);
  // The PF's device offers VIRTIO_F_SR_IOV only when its device has VFs: virtio-rng has none.
  assert.equal((new VirtioRng().features >> BigInt(FeatureBit.SR_IOV)) & 1n, 0n);
});

test("VF Enable: NumVFs functions at offset + k * stride, BARs at VF BARn + k * size; disable removes them", () => {
  const { bridge, sriov, cap } = board();
  const e = bridge.ecam;
  const w = (off: number, size: 1 | 2 | 4, v: number): void => e.write(ecam(PF, cap + off), size, v);
  const bar = (i: number): number => F.vfBar0.offset + 4 * i;
  w(bar(1), 4, 0x4000_1000);
  w(bar(4), 4, 0x0000_4000);
  w(bar(5), 4, 0x4);
  w(F.numVfs.offset, 2, 3);
  w(F.control.offset, 2, SriovControl.VF_ENABLE | SriovControl.VF_MSE);
  assert.equal(sriov.cap.activeVfs, 3);
  for (let k = 0; k < 3; k++) {
    const devfn = (2 << 3) + k;
    assert.equal(e.read(ecam(devfn, 0), 4), 0xffffffff, "a VF's Vendor and Device ID read FFFFh (§9.3.4.1.1)");
    assert.equal(e.read(ecam(devfn, 8), 4) >>> 8, 0x00ff00, "its class is its PF's");
    assert.equal(e.read(ecam(devfn, 0x3d), 1), 0, "no INTx pin");
    assert.equal(e.read(ecam(devfn, 0x14), 4), 0, "its own BARs are read-only zero");
    // Its BAR 4's common configuration answers at VF BAR4 + k * 16 KiB: device_feature_select reads back.
    const base = 0x4_0000_4000 + k * 0x4000 - bridge.mmioHigh.busBase;
    bridge.mmioHigh.write(base, 4, 1);
    assert.equal(bridge.mmioHigh.read(base, 4), 1, `VF ${k} decodes its BAR 4`);
  }
  assert.equal(e.read(ecam((2 << 3) + 3, 0), 4), 0xffffffff, "VF 3 is beyond NumVFs");
  w(F.numVfs.offset, 2, 1);
  assert.equal(e.read(ecam(PF, cap + F.numVfs.offset), 2), 3, "NumVFs is read-only while VF Enable is set");
  w(F.control.offset, 2, SriovControl.VF_ENABLE);
  assert.equal(bridge.mmioHigh.read(0x4_0000_4000 - bridge.mmioHigh.busBase, 4), 0xffffffff, "VF MSE off: no decode");
  w(F.control.offset, 2, 0);
  assert.equal(sriov.functions.length, 0);
  for (let k = 0; k < 3; k++) assert.equal(e.read(ecam((2 << 3) + k, 0), 4), 0xffffffff, `VF ${k} gone`);
  // NumVFs above TotalVFs (undefined by the spec; Linux refuses it): TotalVFs functions, no more.
  w(F.numVfs.offset, 2, 0xffff);
  w(F.control.offset, 2, SriovControl.VF_ENABLE | SriovControl.VF_MSE);
  assert.equal(sriov.functions.length, 4);
  assert.equal(e.read(ecam((2 << 3) + 4, 0), 4), 0xffffffff);
});

test("random writes to the PF's and VFs' configuration space never throw and keep the capability's identity", () => {
  const { bridge, sriov, cap } = board(8);
  const rnd = new Prng(37);
  const sizes = [1, 2, 4] as const;
  for (let i = 0; i < 20000; i++) {
    const size = sizes[rnd.int(3)]!;
    // Mostly the capability itself, sometimes anywhere in the PF or a VF slot.
    const off = (rnd.int(4) === 0 ? rnd.int(0x1000) : cap + rnd.int(SRIOV_CAP.size)) & ~(size - 1);
    const devfn = rnd.int(4) === 0 ? (2 << 3) + rnd.int(9) : PF;
    bridge.ecam.write(ecam(devfn, off), size, rnd.u32());
    bridge.ecam.read(ecam(devfn, off), size);
    bridge.mmioHigh.write(rnd.int(0x40000) & ~3, 4, rnd.u32());
    assert.ok(sriov.functions.length <= 8);
  }
  const e = bridge.ecam;
  assert.equal(e.read(ecam(PF, cap), 4) & 0xffff, ExtCapId.SRIOV);
  assert.equal(e.read(ecam(PF, cap + F.totalVfs.offset), 2), 8);
  assert.equal(e.read(ecam(PF, cap + F.vfDeviceId.offset), 2), 0x1044);
  assert.equal(e.read(ecam(PF, 0), 4), 0x1044_1af4);
  e.write(ecam(PF, cap + F.control.offset), 2, 0);
  assert.equal(sriov.functions.length, 0, "VF Enable cleared removes every VF");
});
