/**
 * Checksum and segmentation offload for virtio-net (virtio 1.2 §5.1.6.2, §5.1.6.4): the metadata
 * of struct virtio_net_hdr that travels with a frame, and the software fallbacks a device needs
 * when the frame goes somewhere that cannot take it as it is (a guest that did not negotiate
 * GUEST_CSUM or GUEST_TSO*): finishing a partial checksum, and cutting a TCP segment of up to
 * 64 KiB into MSS-sized frames as a NIC's TSO engine would.
 */

/** §5.1.6 virtio_net_hdr.flags. */
export const NET_HDR_F_NEEDS_CSUM = 1;
export const NET_HDR_F_DATA_VALID = 2;
/** §5.1.6 virtio_net_hdr.gso_type. */
export const NetGso = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, ECN: 0x80 } as const;

/** What a frame's virtio_net_hdr says beyond num_buffers; absent for a plain, complete frame. */
export interface NetOffload {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** The offload header as it travels between processes: virtio_net_hdr without num_buffers (LE). */
export const OFFLOAD_WIRE = {
  size: 10,
  flags: 0,
  gsoType: 1,
  hdrLen: 2,
  gsoSize: 4,
  csumStart: 6,
  csumOffset: 8,
} as const;

export function encodeOffload(o: NetOffload | undefined, dst: Uint8Array, at: number): void {
  const v = new DataView(dst.buffer, dst.byteOffset + at, OFFLOAD_WIRE.size);
  v.setUint8(OFFLOAD_WIRE.flags, o?.flags ?? 0);
  v.setUint8(OFFLOAD_WIRE.gsoType, o?.gsoType ?? 0);
  v.setUint16(OFFLOAD_WIRE.hdrLen, o?.hdrLen ?? 0, true);
  v.setUint16(OFFLOAD_WIRE.gsoSize, o?.gsoSize ?? 0, true);
  v.setUint16(OFFLOAD_WIRE.csumStart, o?.csumStart ?? 0, true);
  v.setUint16(OFFLOAD_WIRE.csumOffset, o?.csumOffset ?? 0, true);
}

/** The header at `at` (the same layout as virtio_net_hdr's first 10 bytes); undefined when it asks for nothing. */
export function decodeOffload(src: Uint8Array, at: number): NetOffload | undefined {
  const v = new DataView(src.buffer, src.byteOffset + at, OFFLOAD_WIRE.size);
  const o: NetOffload = {
    flags: v.getUint8(OFFLOAD_WIRE.flags),
    gsoType: v.getUint8(OFFLOAD_WIRE.gsoType),
    hdrLen: v.getUint16(OFFLOAD_WIRE.hdrLen, true),
    gsoSize: v.getUint16(OFFLOAD_WIRE.gsoSize, true),
    csumStart: v.getUint16(OFFLOAD_WIRE.csumStart, true),
    csumOffset: v.getUint16(OFFLOAD_WIRE.csumOffset, true),
  };
  return o.flags === 0 && o.gsoType === NetGso.NONE ? undefined : o;
}

/**
 * Whether `o` describes something this project can carry out for `frame`: only NEEDS_CSUM as a
 * flag, TCP segmentation (v4 or v6, without ECN) with a checksum to finish and a non-zero MSS,
 * and a checksum field inside the frame. A guest's header that fails this is refused.
 */
export function offloadValid(o: NetOffload, frameLen: number): boolean {
  if ((o.flags & ~NET_HDR_F_NEEDS_CSUM) !== 0) return false;
  if (o.flags & NET_HDR_F_NEEDS_CSUM && o.csumStart + o.csumOffset + 2 > frameLen) return false;
  if (o.gsoType === NetGso.NONE) return true;
  if (o.gsoType !== NetGso.TCPV4 && o.gsoType !== NetGso.TCPV6) return false;
  return (o.flags & NET_HDR_F_NEEDS_CSUM) !== 0 && o.gsoSize > 0;
}

/** Ones' complement sum of bytes [from, to) as 16-bit big-endian words, added to `sum`, unfolded. */
function sum16(b: Uint8Array, from: number, to: number, sum: number): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < to) sum += b[i]! << 8;
  return sum;
}
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * §5.1.6.2: the driver stored the pseudo-header sum in the checksum field; the checksum of
 * everything from csum_start to the end, that field included, goes into the field.
 */
export function finishChecksum(frame: Uint8Array, csumStart: number, csumOffset: number): void {
  const at = csumStart + csumOffset;
  const c = ~fold(sum16(frame, csumStart, frame.length, 0)) & 0xffff;
  frame[at] = c >>> 8;
  frame[at + 1] = c & 0xff;
}

const ETH_HLEN = 14;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Cut a TCP GSO frame (Ethernet, IPv4 or IPv6 without extension headers, TCP) into frames of at
 * most `gsoSize` payload bytes with complete IP and TCP checksums, as TSO hardware does (RFC 7414
 * and Linux's tcp_gso_segment: sequence numbers advance, FIN and PSH only on the last segment, CWR
 * only on the first, IPv4 ids count up). Returns [] for a frame whose headers do not parse.
 */
export function segmentTcp(frame: Uint8Array, o: NetOffload): Uint8Array[] {
  const v6 = o.gsoType === NetGso.TCPV6;
  const ipLen = v6 ? 40 : (frame[ETH_HLEN]! & 0x0f) * 4;
  if (frame.length < ETH_HLEN + ipLen + 20 || ipLen < 20) return [];
  if (v6 ? frame[ETH_HLEN + 6] !== 6 : frame[ETH_HLEN + 9] !== 6) return []; // next header / protocol: TCP
  const tcp = ETH_HLEN + ipLen;
  const tcpLen = (frame[tcp + 12]! >>> 4) * 4;
  const hdrs = tcp + tcpLen;
  if (tcpLen < 20 || frame.length < hdrs) return [];
  const payload = frame.length - hdrs;
  const seq0 = new DataView(frame.buffer, frame.byteOffset).getUint32(tcp + 4);
  const id0 = v6 ? 0 : (frame[ETH_HLEN + 4]! << 8) | frame[ETH_HLEN + 5]!;
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; at < payload || (payload === 0 && k === 0); at += o.gsoSize, k++) {
    const n = Math.min(o.gsoSize, payload - at);
    const seg = new Uint8Array(hdrs + n);
    seg.set(frame.subarray(0, hdrs));
    seg.set(frame.subarray(hdrs + at, hdrs + at + n), hdrs);
    const dv = new DataView(seg.buffer);
    const last = at + n >= payload;
    dv.setUint32(tcp + 4, (seq0 + at) >>> 0);
    let flags = seg[tcp + 13]!;
    if (!last) flags &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) flags &= ~TCP_CWR;
    seg[tcp + 13] = flags;
    // Pseudo-header (RFC 793 §3.1, RFC 8200 §8.1): addresses, protocol, TCP length.
    let pseudo = 6 + tcpLen + n;
    if (v6) {
      dv.setUint16(ETH_HLEN + 4, tcpLen + n);
      pseudo = sum16(seg, ETH_HLEN + 8, ETH_HLEN + 40, pseudo);
    } else {
      dv.setUint16(ETH_HLEN + 2, ipLen + tcpLen + n);
      dv.setUint16(ETH_HLEN + 4, (id0 + k) & 0xffff);
      dv.setUint16(ETH_HLEN + 10, 0);
      dv.setUint16(ETH_HLEN + 10, ~fold(sum16(seg, ETH_HLEN, tcp, 0)) & 0xffff);
      pseudo = sum16(seg, ETH_HLEN + 12, ETH_HLEN + 20, pseudo);
    }
    dv.setUint16(tcp + 16, 0);
    dv.setUint16(tcp + 16, ~fold(sum16(seg, tcp, seg.length, pseudo)) & 0xffff);
    out.push(seg);
    if (payload === 0) break;
  }
  return out;
}

/** A frame as a guest without offloads must see it: checksum finished, segmented if GSO. */
export function completeFrames(frame: Uint8Array, o: NetOffload): Uint8Array[] {
  if (o.gsoType !== NetGso.NONE) return segmentTcp(frame, o);
  const f = frame.slice();
  if (o.flags & NET_HDR_F_NEEDS_CSUM) finishChecksum(f, o.csumStart, o.csumOffset);
  return [f];
}
