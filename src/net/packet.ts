/**
 * The wire formats Corral's network code reads and writes, declared once as offsets and sizes:
 * Ethernet II (IEEE 802.3 §3.1), ARP (RFC 826), IPv4 (RFC 791 §3.1), UDP (RFC 768), TCP (RFC 9293
 * §3.1), ICMP echo (RFC 792). Helpers
 * read and write them on plain Uint8Arrays; nothing here allocates per field.
 */

export const ETH = { dst: 0, src: 6, type: 12, size: 14 } as const;
export const EtherType = { IPV4: 0x0800, ARP: 0x0806 } as const;

export const ARP = {
  htype: 0,
  ptype: 2,
  hlen: 4,
  plen: 5,
  op: 6,
  sha: 8,
  spa: 14,
  tha: 18,
  tpa: 24,
  size: 28,
} as const;
export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;

export const IPV4 = {
  verIhl: 0,
  tos: 1,
  totalLen: 2,
  id: 4,
  frag: 6,
  ttl: 8,
  proto: 9,
  csum: 10,
  src: 12,
  dst: 16,
  size: 20,
} as const;
export const IpProto = { ICMP: 1, TCP: 6, UDP: 17 } as const;

export const UDP = { srcPort: 0, dstPort: 2, len: 4, csum: 6, size: 8 } as const;

/** RFC 9293 §3.1: the fixed TCP header; options follow up to dataOff * 4 bytes. */
export const TCP = {
  srcPort: 0,
  dstPort: 2,
  seq: 4,
  ack: 8,
  dataOff: 12,
  flags: 13,
  window: 14,
  csum: 16,
  urgent: 18,
  size: 20,
} as const;
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;
/** RFC 9293 §3.2 and RFC 7323 §2: the options Corral reads and writes. */
export const TcpOpt = { END: 0, NOP: 1, MSS: 2, WSCALE: 3 } as const;

/** RFC 792: echo request and reply share one layout. */
export const ICMP = { type: 0, code: 1, csum: 2, id: 4, seq: 6, size: 8 } as const;
export const IcmpType = { ECHO_REPLY: 0, ECHO_REQUEST: 8 } as const;

/** IPv4 flags and fragment offset (RFC 791 §3.1): DF, and the bits that mark a fragment. */
export const IP_DF = 0x4000;
export const IP_FRAGMENT_BITS = 0x3fff;

export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export function get16(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);
}
export function set16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}
export function get32(b: Uint8Array, off: number): number {
  return (((b[off] ?? 0) << 24) | ((b[off + 1] ?? 0) << 16) | ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0)) >>> 0;
}
export function set32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** RFC 1071 Internet checksum of b[start, end). */
export function inetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if ((end - start) & 1) sum += (b[end - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** "10.0.2.15" to a 32-bit number, or undefined. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}
export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}
export function isMulticastMac(b: Uint8Array, off = 0): boolean {
  return ((b[off] ?? 0) & 1) === 1;
}

/** A parsed UDP/IPv4 datagram inside an Ethernet frame. */
export interface UdpDatagram {
  srcMac: Uint8Array;
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** The UDP datagram in an Ethernet frame, or undefined for anything else (fragments included). */
export function parseUdp(frame: Uint8Array): UdpDatagram | undefined {
  if (frame.length < ETH.size + IPV4.size + UDP.size || get16(frame, ETH.type) !== EtherType.IPV4) return undefined;
  const ip = ETH.size;
  const verIhl = frame[ip + IPV4.verIhl] ?? 0;
  const ihl = (verIhl & 0xf) * 4;
  if (verIhl >> 4 !== 4 || ihl < IPV4.size || frame[ip + IPV4.proto] !== IpProto.UDP) return undefined;
  if ((get16(frame, ip + IPV4.frag) & 0x3fff) !== 0) return undefined;
  const totalLen = get16(frame, ip + IPV4.totalLen);
  const udp = ip + ihl;
  if (totalLen < ihl + UDP.size || ip + totalLen > frame.length) return undefined;
  const udpLen = get16(frame, udp + UDP.len);
  if (udpLen < UDP.size || udp + udpLen > ip + totalLen) return undefined;
  return {
    srcMac: frame.subarray(ETH.src, ETH.src + 6),
    srcIp: get32(frame, ip + IPV4.src),
    dstIp: get32(frame, ip + IPV4.dst),
    srcPort: get16(frame, udp + UDP.srcPort),
    dstPort: get16(frame, udp + UDP.dstPort),
    payload: frame.subarray(udp + UDP.size, udp + udpLen),
  };
}

/** Build Ethernet + IPv4 + UDP around a payload, with both checksums (RFC 768 pseudo-header). */
export function buildUdp(d: {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}): Uint8Array {
  const ip = ETH.size;
  const udp = ip + IPV4.size;
  const udpLen = UDP.size + d.payload.length;
  const f = new Uint8Array(udp + udpLen);
  f.set(d.dstMac.subarray(0, 6), ETH.dst);
  f.set(d.srcMac.subarray(0, 6), ETH.src);
  set16(f, ETH.type, EtherType.IPV4);
  f[ip + IPV4.verIhl] = 0x45;
  set16(f, ip + IPV4.totalLen, IPV4.size + udpLen);
  f[ip + IPV4.ttl] = 64;
  f[ip + IPV4.proto] = IpProto.UDP;
  set32(f, ip + IPV4.src, d.srcIp);
  set32(f, ip + IPV4.dst, d.dstIp);
  set16(f, ip + IPV4.csum, inetChecksum(f, ip, udp));
  set16(f, udp + UDP.srcPort, d.srcPort);
  set16(f, udp + UDP.dstPort, d.dstPort);
  set16(f, udp + UDP.len, udpLen);
  f.set(d.payload, udp + UDP.size);
  // Pseudo-header: source, destination, zero + protocol, UDP length.
  const pseudo =
    ((d.srcIp >>> 16) + (d.srcIp & 0xffff) + (d.dstIp >>> 16) + (d.dstIp & 0xffff) + IpProto.UDP + udpLen) >>> 0;
  const c = inetChecksum(f, udp, udp + udpLen, pseudo);
  set16(f, udp + UDP.csum, c === 0 ? 0xffff : c);
  return f;
}
