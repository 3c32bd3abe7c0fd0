/**
 * The IPv4 frames user-mode networking reads from its guest and writes to it: a parsed view of a
 * guest's IPv4 packet (RFC 791 §3.1), and TCP segments (RFC 9293 §3.1) and ICMP echo replies
 * built for it. TCP data segments leave their checksum to the receiving NIC and may be larger
 * than one MTU (virtio 1.2 §5.1.6.4: NEEDS_CSUM and GSO_TCPV4); the virtio-net device finishes
 * and cuts them in software for a guest that did not negotiate GUEST_CSUM / GUEST_TSO4.
 */
import { NET_HDR_F_NEEDS_CSUM, NetGso, type NetOffload } from "../../devices/virtio/net-offload.js";
import {
  ETH,
  EtherType,
  ICMP,
  IPV4,
  IP_DF,
  IP_FRAGMENT_BITS,
  IpProto,
  TCP,
  TcpOpt,
  get16,
  get32,
  inetChecksum,
  set16,
  set32,
} from "../packet.js";

/** An IPv4 packet from the guest; its payload as the IP header's total length bounds it. */
export interface Ipv4Packet {
  proto: number;
  src: number;
  dst: number;
  /** Offset of the transport header in the frame, and where the IP packet ends. */
  l4: number;
  end: number;
}

/** The IPv4 packet in an Ethernet frame, or undefined (not IPv4, malformed, or a fragment: never reassembled). */
export function parseIpv4Packet(f: Uint8Array): Ipv4Packet | undefined {
  if (f.length < ETH.size + IPV4.size || get16(f, ETH.type) !== EtherType.IPV4) return undefined;
  const ip = ETH.size;
  const verIhl = f[ip + IPV4.verIhl]!;
  const ihl = (verIhl & 0xf) * 4;
  if (verIhl >> 4 !== 4 || ihl < IPV4.size) return undefined;
  if ((get16(f, ip + IPV4.frag) & IP_FRAGMENT_BITS) !== 0) return undefined;
  const total = get16(f, ip + IPV4.totalLen);
  if (total < ihl || ip + total > f.length) return undefined;
  return {
    proto: f[ip + IPV4.proto]!,
    src: get32(f, ip + IPV4.src),
    dst: get32(f, ip + IPV4.dst),
    l4: ip + ihl,
    end: ip + total,
  };
}

/** A TCP segment from the guest. */
export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** From a SYN's options (RFC 9293 §3.7.1, RFC 7323 §2.2); undefined when absent. */
  mss: number | undefined;
  wscale: number | undefined;
  payload: Uint8Array;
}

export function parseTcp(f: Uint8Array, p: Ipv4Packet): TcpSegment | undefined {
  const t = p.l4;
  if (p.end - t < TCP.size) return undefined;
  const hlen = (f[t + TCP.dataOff]! >>> 4) * 4;
  if (hlen < TCP.size || t + hlen > p.end) return undefined;
  let mss: number | undefined;
  let wscale: number | undefined;
  for (let i = t + TCP.size; i < t + hlen;) {
    const kind = f[i]!;
    if (kind === TcpOpt.END) break;
    if (kind === TcpOpt.NOP) {
      i++;
      continue;
    }
    const len = f[i + 1] ?? 0;
    if (len < 2 || i + len > t + hlen) break;
    if (kind === TcpOpt.MSS && len === 4) mss = get16(f, i + 2);
    if (kind === TcpOpt.WSCALE && len === 3) wscale = Math.min(f[i + 2]!, 14);
    i += len;
  }
  return {
    srcPort: get16(f, t + TCP.srcPort),
    dstPort: get16(f, t + TCP.dstPort),
    seq: get32(f, t + TCP.seq),
    ack: get32(f, t + TCP.ack),
    flags: f[t + TCP.flags]! & 0x3f,
    window: get16(f, t + TCP.window),
    mss,
    wscale,
    payload: f.subarray(t + hlen, p.end),
  };
}

/** The two ends of a frame sent to the guest. */
export interface Ends {
  guestMac: Uint8Array;
  ourMac: Uint8Array;
}

let ipId = 0;

/** Ethernet and IPv4 headers for a packet of `l4Len` transport bytes from `src` to `dst`; returns the frame. */
function ipFrame(e: Ends, src: number, dst: number, proto: number, l4Len: number): Uint8Array {
  const f = new Uint8Array(ETH.size + IPV4.size + l4Len);
  f.set(e.guestMac.subarray(0, 6), ETH.dst);
  f.set(e.ourMac.subarray(0, 6), ETH.src);
  set16(f, ETH.type, EtherType.IPV4);
  const ip = ETH.size;
  f[ip + IPV4.verIhl] = 0x45;
  set16(f, ip + IPV4.totalLen, IPV4.size + l4Len);
  ipId = (ipId + 1) & 0xffff;
  set16(f, ip + IPV4.id, ipId);
  set16(f, ip + IPV4.frag, proto === IpProto.TCP ? IP_DF : 0);
  f[ip + IPV4.ttl] = 64;
  f[ip + IPV4.proto] = proto;
  set32(f, ip + IPV4.src, src);
  set32(f, ip + IPV4.dst, dst);
  set16(f, ip + IPV4.csum, inetChecksum(f, ip, ip + IPV4.size));
  return f;
}

/** The pseudo-header sum (RFC 9293 §3.1), folded to 16 bits, not complemented. */
function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  let s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export interface TcpOut {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** MSS and window-scale options (on a SYN). */
  synOptions?: { mss: number; wscale: number | undefined };
  /** Payload: its bytes are copied by `fill` into the frame at the given offset. */
  payloadLen?: number;
  fill?: (dst: Uint8Array, at: number) => void;
  /** The guest's MSS: a payload larger than it goes as one GSO frame. */
  gsoSize?: number;
}

/** A TCP segment for the guest, with its checksum left to the NIC (NEEDS_CSUM) or complete when small. */
export function buildTcp(e: Ends, s: TcpOut): { frame: Uint8Array; offload: NetOffload | undefined } {
  const optLen = s.synOptions ? (s.synOptions.wscale !== undefined ? 8 : 4) : 0;
  const hlen = TCP.size + optLen;
  const len = s.payloadLen ?? 0;
  const f = ipFrame(e, s.src, s.dst, IpProto.TCP, hlen + len);
  const t = ETH.size + IPV4.size;
  set16(f, t + TCP.srcPort, s.srcPort);
  set16(f, t + TCP.dstPort, s.dstPort);
  set32(f, t + TCP.seq, s.seq >>> 0);
  set32(f, t + TCP.ack, s.ack >>> 0);
  f[t + TCP.dataOff] = (hlen / 4) << 4;
  f[t + TCP.flags] = s.flags;
  set16(f, t + TCP.window, Math.min(s.window, 0xffff));
  if (s.synOptions) {
    const o = t + TCP.size;
    f[o] = TcpOpt.MSS;
    f[o + 1] = 4;
    set16(f, o + 2, s.synOptions.mss);
    if (s.synOptions.wscale !== undefined) {
      f[o + 4] = TcpOpt.NOP;
      f[o + 5] = TcpOpt.WSCALE;
      f[o + 6] = 3;
      f[o + 7] = s.synOptions.wscale;
    }
  }
  if (len > 0) s.fill?.(f, t + hlen);
  const pseudo = pseudoSum(s.src, s.dst, IpProto.TCP, hlen + len);
  if (len === 0) {
    set16(f, t + TCP.csum, inetChecksum(f, t, f.length, pseudo));
    return { frame: f, offload: undefined };
  }
  // §5.1.6.2: the checksum field holds the pseudo-header sum; the NIC (or device) sums the rest.
  set16(f, t + TCP.csum, pseudo);
  const gso = s.gsoSize !== undefined && len > s.gsoSize;
  return {
    frame: f,
    offload: {
      flags: NET_HDR_F_NEEDS_CSUM,
      gsoType: gso ? NetGso.TCPV4 : NetGso.NONE,
      hdrLen: gso ? t + hlen : 0,
      gsoSize: gso ? s.gsoSize! : 0,
      csumStart: t,
      csumOffset: TCP.csum,
    },
  };
}

/** An ICMP echo reply (RFC 792) to a request: same id, sequence and data. */
export function buildEchoReply(e: Ends, src: number, dst: number, request: Uint8Array): Uint8Array {
  const f = ipFrame(e, src, dst, IpProto.ICMP, request.length);
  const i = ETH.size + IPV4.size;
  f.set(request, i);
  f[i + ICMP.type] = 0;
  f[i + ICMP.code] = 0;
  set16(f, i + ICMP.csum, 0);
  set16(f, i + ICMP.csum, inetChecksum(f, i, f.length));
  return f;
}
