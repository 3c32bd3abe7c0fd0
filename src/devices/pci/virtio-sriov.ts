/**
 * SR-IOV for a virtio device over PCI (virtio 1.2 §4.1.2.3 and VIRTIO_F_SR_IOV, §6): the physical
 * function gets the SR-IOV capability (sriov.ts) whose VFs are the device's `virtualFunctions`,
 * each a virtio-pci function of its own (own configuration space, queues, MSI-X), present on the
 * bus only while the PF's driver has VF Enable set.
 *
 * Without ARI the VFs must sit on bus 0 (the root bus has no bridge to another), so they go at
 * device numbers after every other function: VF k at devfn `firstDevfn + k` (VF Stride 1, so
 * eight VFs share one device number as its functions 0..7). A VF disabled and enabled again
 * comes back reset: a fresh transport over the same device.
 */
import type { GuestMemory } from "../../machine/memory.js";
import type { VirtioDevice } from "../virtio/device.js";
import type { PciHostBridge } from "./host-bridge.js";
import type { MsiSend } from "./msix.js";
import { VIRTIO_PCI_DEVICE_BASE } from "./layout.js";
import { SriovCapability } from "./sriov.js";
import { VIRTIO_PCI_BARS, VirtioPciFunction } from "./virtio-pci.js";

export interface VirtioSriovOptions {
  bridge: PciHostBridge;
  pf: VirtioPciFunction;
  /** The PF's devfn on bus 0. */
  pfDevfn: number;
  /** The devfn of VF 0; VF k is at firstDevfn + k (all below 256). */
  firstDevfn: number;
  vfs: readonly VirtioDevice[];
  memory: GuestMemory;
  msi: MsiSend;
}

export class VirtioSriov {
  readonly cap: SriovCapability;
  private present: { devfn: number; fn: VirtioPciFunction }[] = [];

  constructor(private readonly o: VirtioSriovOptions) {
    if (o.firstDevfn + o.vfs.length > 256 || o.firstDevfn <= o.pfDevfn)
      throw new RangeError(`${o.vfs.length} VFs do not fit on bus 0 from devfn ${o.firstDevfn}`);
    this.cap = new SriovCapability(o.pf.fn, {
      totalVfs: o.vfs.length,
      vfDeviceId: VIRTIO_PCI_DEVICE_BASE + o.pf.core.device.deviceId,
      firstVfOffset: o.firstDevfn - o.pfDevfn,
      vfStride: 1,
      bars: VIRTIO_PCI_BARS,
      enable: (n) => this.enable(n),
      disable: () => this.disable(),
    });
  }

  /** The VFs present now, in VF order. */
  get functions(): readonly VirtioPciFunction[] {
    return this.present.map((p) => p.fn);
  }

  private enable(n: number): void {
    for (let k = 0; k < n; k++) {
      const fn = new VirtioPciFunction({
        device: this.o.vfs[k]!,
        memory: this.o.memory,
        msi: this.o.msi,
        virtualFunction: { barBase: (index) => this.cap.vfBarBase(index, k) },
      });
      const devfn = this.o.firstDevfn + k;
      this.o.bridge.attach(devfn >> 3, devfn & 7, fn.fn);
      this.present.push({ devfn, fn });
    }
  }

  /** VF Enable cleared: the VFs leave the bus and their devices are reset (PCIe §9.3.3.3.1). */
  private disable(): void {
    for (const { devfn, fn } of this.present.splice(0)) {
      this.o.bridge.detach(devfn >> 3, devfn & 7);
      fn.core.reset();
    }
  }
}
