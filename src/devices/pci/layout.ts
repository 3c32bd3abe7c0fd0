/**
 * Binary layouts of PCI configuration space, declared once (PCI Local Bus spec 3.0 §6.1-6.8,
 * PCI Express Base spec 4.0 §7.5 and §7.6; virtio 1.2 §4.1.4 for the virtio capabilities).
 * layout.test.ts checks them against the sizes the specs give.
 */
import type { Layout } from "../virtio/layout.js";

function layout<K extends string>(size: number, fields: { [P in K]: { offset: number; size: number } }): Layout<K> {
  return { size, fields };
}

/** Bytes of one function's configuration space under ECAM (PCIe §7.2.2): 256 PCI-compatible + extended. */
export const CONFIG_SIZE = 4096;
/** Where the extended capability list starts (PCIe §7.6). */
export const EXT_CAP_START = 0x100;

/** Type 0 configuration space header (PCI 3.0 §6.1, figure 6-1). */
export const TYPE0_HEADER = layout(64, {
  vendorId: { offset: 0x00, size: 2 },
  deviceId: { offset: 0x02, size: 2 },
  command: { offset: 0x04, size: 2 },
  status: { offset: 0x06, size: 2 },
  revisionId: { offset: 0x08, size: 1 },
  classCode: { offset: 0x09, size: 3 },
  cacheLineSize: { offset: 0x0c, size: 1 },
  latencyTimer: { offset: 0x0d, size: 1 },
  headerType: { offset: 0x0e, size: 1 },
  bist: { offset: 0x0f, size: 1 },
  bar0: { offset: 0x10, size: 4 },
  cardbusCis: { offset: 0x28, size: 4 },
  subsystemVendorId: { offset: 0x2c, size: 2 },
  subsystemId: { offset: 0x2e, size: 2 },
  expansionRom: { offset: 0x30, size: 4 },
  capabilitiesPointer: { offset: 0x34, size: 1 },
  interruptLine: { offset: 0x3c, size: 1 },
  interruptPin: { offset: 0x3d, size: 1 },
  minGnt: { offset: 0x3e, size: 1 },
  maxLat: { offset: 0x3f, size: 1 },
});
export const BAR_COUNT = 6;

/** Command register bits (PCI 3.0 §6.2.2). */
export const Command = {
  IO: 1 << 0,
  MEMORY: 1 << 1,
  BUS_MASTER: 1 << 2,
  PARITY: 1 << 6,
  SERR: 1 << 8,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const StatusBit = {
  INTERRUPT: 1 << 3,
  CAP_LIST: 1 << 4,
} as const;

/** BAR low bits (PCI 3.0 §6.2.5.1). */
export const Bar = {
  IO: 0x1,
  MEM_64: 0x4,
  PREFETCH: 0x8,
} as const;

/** Capability IDs (PCI Code and ID Assignment spec §2). */
export const CapId = {
  MSI: 0x05,
  VENDOR: 0x09,
  PCIE: 0x10,
  MSIX: 0x11,
} as const;

/** Extended capability IDs (PCI Code and ID Assignment spec §3). */
export const ExtCapId = {
  SRIOV: 0x0010,
} as const;

/**
 * SR-IOV Extended Capability (PCIe Base spec 4.0 §9.3.3, figure 9-10): 64 bytes. Linux names the
 * same offsets PCI_SRIOV_* (include/uapi/linux/pci_regs.h).
 */
export const SRIOV_CAP = layout(0x40, {
  header: { offset: 0x00, size: 4 },
  capabilities: { offset: 0x04, size: 4 },
  control: { offset: 0x08, size: 2 },
  status: { offset: 0x0a, size: 2 },
  initialVfs: { offset: 0x0c, size: 2 },
  totalVfs: { offset: 0x0e, size: 2 },
  numVfs: { offset: 0x10, size: 2 },
  functionDependencyLink: { offset: 0x12, size: 1 },
  firstVfOffset: { offset: 0x14, size: 2 },
  vfStride: { offset: 0x16, size: 2 },
  vfDeviceId: { offset: 0x1a, size: 2 },
  supportedPageSizes: { offset: 0x1c, size: 4 },
  systemPageSize: { offset: 0x20, size: 4 },
  vfBar0: { offset: 0x24, size: 4 },
  vfMigrationState: { offset: 0x3c, size: 4 },
});
/** SR-IOV Control bits (§9.3.3.3). */
export const SriovControl = {
  VF_ENABLE: 1 << 0,
  VF_MIGRATION_ENABLE: 1 << 1,
  VF_MIGRATION_INTERRUPT: 1 << 2,
  VF_MSE: 1 << 3,
  ARI_CAPABLE_HIERARCHY: 1 << 4,
} as const;

/** PCI Express Capability structure, version 2 (PCIe §7.5.3): 60 bytes. */
export const PCIE_CAP = layout(0x3c, {
  header: { offset: 0x00, size: 2 },
  capabilities: { offset: 0x02, size: 2 },
  deviceCap: { offset: 0x04, size: 4 },
  deviceControl: { offset: 0x08, size: 2 },
  deviceStatus: { offset: 0x0a, size: 2 },
  linkCap: { offset: 0x0c, size: 4 },
  linkControl: { offset: 0x10, size: 2 },
  linkStatus: { offset: 0x12, size: 2 },
  deviceCap2: { offset: 0x24, size: 4 },
  deviceControl2: { offset: 0x28, size: 2 },
});
/** Device/Port Type of the PCIe Capabilities register (PCIe §7.5.3.2): a Root Complex Integrated Endpoint. */
export const PCIE_TYPE_RC_INTEGRATED_ENDPOINT = 0x9;

/** MSI-X Capability structure (PCI 3.0 §6.8.2). */
export const MSIX_CAP = layout(12, {
  header: { offset: 0x00, size: 2 },
  messageControl: { offset: 0x02, size: 2 },
  table: { offset: 0x04, size: 4 },
  pba: { offset: 0x08, size: 4 },
});
export const MsixControl = {
  TABLE_SIZE_MASK: 0x7ff,
  FUNCTION_MASK: 1 << 14,
  ENABLE: 1 << 15,
} as const;
/** One MSI-X table entry (PCI 3.0 §6.8.2.6-9): address, data, vector control. */
export const MSIX_ENTRY = layout(16, {
  addressLow: { offset: 0, size: 4 },
  addressHigh: { offset: 4, size: 4 },
  data: { offset: 8, size: 4 },
  vectorControl: { offset: 12, size: 4 },
});
export const MSIX_ENTRY_MASKED = 1;

/** virtio 1.2 §4.1.4 struct virtio_pci_cap (a vendor-specific capability). */
export const VIRTIO_PCI_CAP = layout(16, {
  capVndr: { offset: 0, size: 1 },
  capNext: { offset: 1, size: 1 },
  capLen: { offset: 2, size: 1 },
  cfgType: { offset: 3, size: 1 },
  bar: { offset: 4, size: 1 },
  id: { offset: 5, size: 1 },
  offset: { offset: 8, size: 4 },
  length: { offset: 12, size: 4 },
});
/** §4.1.4.4 struct virtio_pci_notify_cap: the cap, then notify_off_multiplier. */
export const VIRTIO_PCI_NOTIFY_CAP_SIZE = 20;
/** §4.1.4.9 struct virtio_pci_cfg_cap: the cap, then pci_cfg_data[4]. */
export const VIRTIO_PCI_CFG_CAP_SIZE = 20;

/** §4.1.4 cfg_type values. */
export const VirtioPciCap = {
  COMMON: 1,
  NOTIFY: 2,
  ISR: 3,
  DEVICE: 4,
  PCI_CFG: 5,
} as const;

/** §4.1.4.3 struct virtio_pci_common_cfg. */
export const VIRTIO_PCI_COMMON = layout(0x3c, {
  deviceFeatureSelect: { offset: 0x00, size: 4 },
  deviceFeature: { offset: 0x04, size: 4 },
  driverFeatureSelect: { offset: 0x08, size: 4 },
  driverFeature: { offset: 0x0c, size: 4 },
  configMsixVector: { offset: 0x10, size: 2 },
  numQueues: { offset: 0x12, size: 2 },
  deviceStatus: { offset: 0x14, size: 1 },
  configGeneration: { offset: 0x15, size: 1 },
  queueSelect: { offset: 0x16, size: 2 },
  queueSize: { offset: 0x18, size: 2 },
  queueMsixVector: { offset: 0x1a, size: 2 },
  queueEnable: { offset: 0x1c, size: 2 },
  queueNotifyOff: { offset: 0x1e, size: 2 },
  queueDesc: { offset: 0x20, size: 8 },
  queueDriver: { offset: 0x28, size: 8 },
  queueDevice: { offset: 0x30, size: 8 },
  queueNotifConfigData: { offset: 0x38, size: 2 },
  queueReset: { offset: 0x3a, size: 2 },
});
/** §4.1.5.1.2: "no vector". */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
/** §4.1.2: the PCI vendor ID of every virtio device, and device IDs 0x1040 + the virtio type. */
export const VIRTIO_PCI_VENDOR = 0x1af4;
export const VIRTIO_PCI_DEVICE_BASE = 0x1040;
