/**
 * Binary layouts of virtio structures in guest memory, declared once as data (offset and size of
 * every field, little-endian as virtio 1.x mandates, §1.4). layout.test.ts checks them against the
 * sizes the spec gives.
 */

export interface Field {
  readonly offset: number;
  readonly size: number;
}

/** A fixed-size structure: its total size and its fields. */
export interface Layout<K extends string> {
  readonly size: number;
  readonly fields: { readonly [P in K]: Field };
}

function layout<K extends string>(size: number, fields: { [P in K]: Field }): Layout<K> {
  return { size, fields };
}

/** §2.7.5 struct virtq_desc. */
export const VIRTQ_DESC = layout(16, {
  addr: { offset: 0, size: 8 },
  len: { offset: 8, size: 4 },
  flags: { offset: 12, size: 2 },
  next: { offset: 14, size: 2 },
});

/** §2.7.6 struct virtq_avail header; ring[] (2 bytes each) starts at `ring`, then used_event. */
export const VIRTQ_AVAIL = layout(4, {
  flags: { offset: 0, size: 2 },
  idx: { offset: 2, size: 2 },
  ring: { offset: 4, size: 0 },
});
export const VIRTQ_AVAIL_ENTRY_SIZE = 2;

/** §2.7.8 struct virtq_used header; ring[] of virtq_used_elem, then avail_event. */
export const VIRTQ_USED = layout(4, {
  flags: { offset: 0, size: 2 },
  idx: { offset: 2, size: 2 },
  ring: { offset: 4, size: 0 },
});

/** §2.7.8 struct virtq_used_elem. */
export const VIRTQ_USED_ELEM = layout(8, {
  id: { offset: 0, size: 4 },
  len: { offset: 4, size: 4 },
});

/** §2.7 alignment requirements of the three parts of a split virtqueue. */
export const RING_ALIGN = { desc: 16, avail: 2, used: 4 } as const;

/** Bytes of each part for a queue of `n` entries, including the EVENT_IDX trailer (§2.7). */
export function ringSizes(n: number): { desc: number; avail: number; used: number } {
  return {
    desc: VIRTQ_DESC.size * n,
    avail: VIRTQ_AVAIL.size + VIRTQ_AVAIL_ENTRY_SIZE * n + 2,
    used: VIRTQ_USED.size + VIRTQ_USED_ELEM.size * n + 2,
  };
}

/** Offset of used_event in the available ring (§2.7.10). */
export function usedEventOffset(n: number): number {
  return VIRTQ_AVAIL.size + VIRTQ_AVAIL_ENTRY_SIZE * n;
}

/** Offset of avail_event in the used ring (§2.7.10). */
export function availEventOffset(n: number): number {
  return VIRTQ_USED.size + VIRTQ_USED_ELEM.size * n;
}

/**
 * §5.10.6 struct virtio_vsock_hdr (packed, 44 bytes): the header before every vsock packet's
 * payload on the receive and transmit queues.
 */
export const VSOCK_HDR = layout(44, {
  srcCid: { offset: 0, size: 8 },
  dstCid: { offset: 8, size: 8 },
  srcPort: { offset: 16, size: 4 },
  dstPort: { offset: 20, size: 4 },
  len: { offset: 24, size: 4 },
  type: { offset: 28, size: 2 },
  op: { offset: 30, size: 2 },
  flags: { offset: 32, size: 4 },
  bufAlloc: { offset: 36, size: 4 },
  fwdCnt: { offset: 40, size: 4 },
});

/** §5.10.4 struct virtio_vsock_config. */
export const VSOCK_CONFIG = layout(8, {
  guestCid: { offset: 0, size: 8 },
});
