/**
 * What every virtio device implements so that one transport serves them all (kvmtool's
 * `struct virtio_ops`, Firecracker's `VirtioDevice` trait). The transport (transport-mmio.ts) owns
 * the registers, feature negotiation, queue setup and interrupts; a device owns its configuration
 * space and what its queues mean.
 */
import type { GuestMemory } from "../../machine/memory.js";
import type { Virtqueue } from "./virtqueue.js";
import type { SavedState } from "../../snapshot/state.js";

/** What the transport hands a device when the driver sets DRIVER_OK (§3.1.1 step 8). */
export interface VirtioDeviceContext {
  readonly memory: GuestMemory;
  /** The features both sides agreed on (device-specific and reserved bits). */
  readonly features: bigint;
  /** Queue `index` if the driver enabled it (QueueReady = 1), else undefined. */
  queue(index: number): Virtqueue | undefined;
  /**
   * Chains were pushed on queue `index`: raise a used-buffer interrupt unless the driver
   * suppressed it (§2.7.7). Call after each batch of push().
   */
  signalUsed(index: number): void;
  /** The configuration space changed: bump ConfigGeneration and interrupt (§4.2.2, §2.5.1). */
  configChanged(): void;
  /** The device cannot continue: DEVICE_NEEDS_RESET and a configuration-change interrupt (§2.1.2). */
  needsReset(reason: string): void;
}

export interface VirtioDevice {
  /** Short name for logs, e.g. "blk0". */
  readonly name: string;
  /** §5 device type (DeviceId in spec.ts). */
  readonly deviceId: number;
  /**
   * Device-specific feature bits offered (bits 0-23 and any reserved bit the device supports
   * beyond what the transport adds: VERSION_1, RING_INDIRECT_DESC, RING_EVENT_IDX).
   */
  readonly features: bigint;
  /** QueueNumMax of each queue; the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Bytes of device configuration space (§4.2.2: at offset 0x100 of the MMIO window). */
  readonly configSize: number;
  /** Read `size` bytes of configuration space at `offset` (offset + size <= configSize). */
  readConfig(offset: number, size: 1 | 2 | 4): number;
  /** The driver wrote configuration space (most fields are read-only: ignore those writes). */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void;
  /** DRIVER_OK: the device may start using its queues through `ctx` until reset(). */
  activate(ctx: VirtioDeviceContext): void;
  /** The driver notified queue `index` (QueueNotify). Only called while active. */
  notify(index: number): void;
  /** Device reset (Status = 0 or before re-initialisation): forget `ctx` and all queue state. */
  reset(): void;
  /** Release host resources (files, timers). Called once, when the machine is torn down. */
  close(): void;
  /**
   * SR-IOV (over virtio-pci only): the devices behind this one's virtual functions, which its
   * driver enables (src/devices/pci/virtio-sriov.ts); the device offers VIRTIO_F_SR_IOV and
   * closes them with itself.
   */
  readonly virtualFunctions?: readonly VirtioDevice[];
  /**
   * Snapshots (src/snapshot/state.ts): the device's own state beyond its queues and registers,
   * which the transport saves. A device without these refuses to be snapshotted.
   */
  saveState?(): SavedState;
  /** Continue from `s`; `ctx` is the activation context when the driver had set DRIVER_OK. */
  restoreState?(s: SavedState, ctx: VirtioDeviceContext | undefined): void;
}
