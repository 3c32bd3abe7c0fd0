/**
 * Constants of the virtio 1.2 specification shared by the transport, the rings and the devices.
 * Device-specific constants live with their device (blk.ts, console.ts, ...).
 */

/** §2.1 Device Status Field. */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** §5 Device Types: the ids this project implements. */
export const DeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
  BALLOON: 5,
  SOCKET: 19,
  FS: 26,
} as const;

/** §6 Reserved Feature Bits (bit numbers, device-independent). */
export const FeatureBit = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
} as const;

/** One feature bit as a 64-bit mask. */
export function feature(bit: number): bigint {
  return 1n << BigInt(bit);
}

export function hasFeature(features: bigint, bit: number): boolean {
  return (features & feature(bit)) !== 0n;
}

/** §4.2.2 InterruptStatus bits. */
export const Interrupt = {
  USED_BUFFER: 1,
  CONFIG_CHANGE: 2,
} as const;

/** §2.7.5 Split virtqueue descriptor flags. */
export const DescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;

/** §2.7.6 / §2.7.8 ring flags: driver asks for no interrupts, device asks for no notifications. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;

/** §2.7: the largest queue size a split virtqueue may have. */
export const MAX_QUEUE_SIZE = 32768;
