/**
 * User-mode networking (`--net user`, the default NIC): what QEMU's `-netdev user` (slirp) does,
 * in the VM's own process, without root or a TAP device. The guest's frames end here:
 *  - ARP for the gateway (10.0.2.2) and the DNS server (10.0.2.3) is answered;
 *  - DHCP gives the guest 10.0.2.15, the gateway as router and 10.0.2.3 as DNS server (dhcp.ts);
 *  - UDP to 10.0.2.3:53 (and TCP) goes to the host's resolver (the first IPv4 nameserver of
 *    /etc/resolv.conf, or dns=IP[:PORT]);
 *  - other TCP and UDP is carried by host sockets (node:net, node:dgram): a guest SYN becomes a
 *    host connect (tcp.ts), a guest datagram a send from a host UDP socket of that flow;
 *  - ICMP echo to the gateway and the DNS address is answered here. Echo to other hosts needs an
 *    unprivileged ICMP socket (net.ipv4.ping_group_range), which Node cannot open: not forwarded.
 * The host's loopback (127.0.0.0/8) is never reachable; the gateway address reaches the host's
 * 127.0.0.1 only with host-loopback=on, as slirp maps it. Port forwards (`-p`) listen on the host
 * and open connections (or UDP flows) to the guest from the gateway address.
 *
 * The guest is untrusted: connections and flows are bounded (MAX_TCP, MAX_UDP; the least recently
 * active goes, the guest gets a RST), every buffer is bounded (tcp.ts), and close() ends every
 * host socket when the VM stops.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { NetBackend } from "../../devices/virtio/net.js";
import type { NetOffload } from "../../devices/virtio/net-offload.js";
import { parseMac } from "../../devices/virtio/net.js";
import { NetError } from "../errors.js";
import { DHCP_SERVER_PORT, DhcpServer } from "../dhcp.js";
import { MemoryLeaseStore } from "../leases.js";
import {
  ETH,
  EtherType,
  ICMP,
  IcmpType,
  IpProto,
  TcpFlag,
  UDP,
  buildUdp,
  formatIpv4,
  get16,
  parseIpv4,
} from "../packet.js";
import { arpReply, dhcpReply } from "../services.js";
import {
  USER_DNS,
  USER_GATEWAY,
  USER_GUEST,
  USER_NETWORK,
  USER_POOL,
  USER_PREFIX,
  USER_SUBNET,
  formatForward,
  parseHostPort,
  type PortForward,
  type UserNetConfig,
} from "./config.js";
import {
  buildEchoReply,
  buildTcp,
  parseIpv4Packet,
  parseTcp,
  type Ends,
  type Ipv4Packet,
  type TcpSegment,
} from "./frames.js";
import { TcpConn, type TcpOwner } from "./tcp.js";

/** The MAC the gateway answers from (QEMU's slirp uses 52:55:0a:00:02:02 too). */
export const GATEWAY_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);
/** TCP connections per VM; past it the least recently active one is reset. */
export const MAX_TCP = 256;
/** UDP flows per VM (each a host socket); past it the least recently active one is closed. */
export const MAX_UDP = 256;
/** A UDP flow with no datagram either way for this long is closed. */
const UDP_IDLE_MS = 60_000;
/** A UDP payload that fits one 1500-byte frame: larger replies would need IP fragments, not sent. */
const MAX_UDP_PAYLOAD = 1500 - 20 - 8;
/** How often retransmission and idle flows are looked at. */
const TICK_MS = 250;

interface Target {
  host: string;
  port: number;
}

interface UdpFlow {
  key: string;
  guestIp: number;
  guestPort: number;
  /** The far end as the guest sees it. */
  peerIp: number;
  peerPort: number;
  target: Target;
  socket: UdpSocket;
  lastActive: number;
}

/** A UDP port forward's peer on the host, as the guest sees it: the gateway and a port of its own. */
interface UdpForwardPeer {
  socket: UdpSocket;
  host: string;
  port: number;
  guestPort: number;
  lastActive: number;
}

export interface UserNetStats {
  tcpOpened: number;
  tcpRefused: number;
  tcpEvicted: number;
  udpFlows: number;
  udpEvicted: number;
  dropped: number;
}

/** The resolver DNS queries go to: dns=, else the first IPv4 nameserver of /etc/resolv.conf. */
export function hostResolver(dns: string | undefined, resolvConf = "/etc/resolv.conf"): Target | undefined {
  if (dns !== undefined) {
    const t = parseHostPort(dns, 53);
    return t && { host: t.ip, port: t.port };
  }
  let text = "";
  try {
    text = readFileSync(resolvConf, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseIpv4(m[1]!) !== undefined) return { host: m[1]!, port: 53 };
  }
  return undefined;
}

/** Addresses a guest may reach through host sockets: not this host's loopback, not multicast, not the virtual network. */
function outside(ip: number): boolean {
  const a = ip >>> 24;
  if (a === 0 || a === 127 || a >= 224) return false;
  return ip >>> (32 - USER_PREFIX) !== USER_NETWORK >>> (32 - USER_PREFIX);
}

export class UserNet implements NetBackend, TcpOwner {
  readonly offloads = true;
  readonly stats: UserNetStats = { tcpOpened: 0, tcpRefused: 0, tcpEvicted: 0, udpFlows: 0, udpEvicted: 0, dropped: 0 };
  readonly ends: Ends;
  private cb: (frame: Uint8Array, offload?: NetOffload) => void = () => {};
  private readonly dhcp: DhcpServer;
  private readonly resolver: Target | undefined;
  /** The guest's address: its DHCP lease, or the source of what it sends. */
  guestIp = USER_GUEST;
  private readonly tcp = new Map<string, TcpConn>();
  private readonly udp = new Map<string, UdpFlow>();
  private readonly udpForwardPeers = new Map<number, UdpForwardPeer>();
  private readonly servers: Server[] = [];
  private readonly forwardSockets: UdpSocket[] = [];
  private nextGatewayPort = 49152;
  /** Runs only while a connection or flow exists: an idle VM's process is not woken four times a second. */
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly config: UserNetConfig,
    mac: string,
  ) {
    this.ends = { guestMac: parseMac(mac), ourMac: GATEWAY_MAC };
    this.dhcp = new DhcpServer(USER_SUBNET, new MemoryLeaseStore(USER_POOL), mac);
    this.resolver = hostResolver(config.dns);
  }

  /** Start the timers' tick (a connection or flow was just added). */
  private ticking(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** A user-mode network for the NIC with MAC `mac`, its port forwards listening (a host port taken fails here). */
  static async open(config: UserNetConfig, mac: string): Promise<UserNet> {
    const u = new UserNet(config, mac);
    try {
      for (const f of config.forwards) await u.listen(f);
    } catch (e) {
      u.close();
      throw e;
    }
    return u;
  }

  private async listen(f: PortForward): Promise<void> {
    const fail = (e: NodeJS.ErrnoException): NetError => {
      const where = `host port ${f.hostPort} on ${f.hostIp}`;
      if (e.code === "EADDRINUSE")
        return new NetError(
          "PORT_IN_USE",
          `-p ${formatForward(f)}: ${where} is already in use: choose another host port`,
          { exitCode: 2, cause: e },
        );
      return new NetError(
        "PORT_UNAVAILABLE",
        `-p ${formatForward(f)}: cannot listen on ${where} (${e.code ?? e.message}): ` +
          (e.code === "EADDRNOTAVAIL" ? "use an address of this host" : "choose another host port or address"),
        { exitCode: 2, cause: e },
      );
    };
    if (f.proto === "tcp") {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.acceptForward(f, s));
      await new Promise<void>((resolve, reject) => {
        server.once("error", (e: NodeJS.ErrnoException) => reject(fail(e)));
        server.listen({ host: f.hostIp, port: f.hostPort, exclusive: true }, () => resolve());
      });
      server.on("error", () => {});
      this.servers.push(server);
    } else {
      const sock = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        sock.once("error", (e: NodeJS.ErrnoException) => reject(fail(e)));
        sock.bind({ address: f.hostIp, port: f.hostPort, exclusive: true }, () => resolve());
      }).catch((e: unknown) => {
        sock.close();
        throw e;
      });
      sock.on("error", () => {});
      sock.on("message", (msg, rinfo) => this.fromForwardPeer(f, sock, msg, rinfo.address, rinfo.port));
      this.forwardSockets.push(sock);
    }
  }

  onReceive(cb: (frame: Uint8Array, offload?: NetOffload) => void): void {
    this.cb = cb;
  }

  /**
   * A frame for the guest, delivered at once, also from inside the device's transmit loop (the
   * ACK of a guest's segment): the receive queue is apart from the transmit queue, and an ACK held
   * until the emulator next yields to the event loop (up to 8 ms) would clock the guest's TCP.
   */
  emit(frame: Uint8Array, offload?: NetOffload): void {
    if (!this.closed) this.cb(frame, offload);
  }

  /** A frame from the guest. Checksums are not checked: the link is memory, and a wrong one harms only the guest. */
  send(frame: Uint8Array): void {
    if (this.closed) return;
    const type = get16(frame, ETH.type);
    if (type === EtherType.ARP) {
      const r = arpReply(frame, (ip) => ip === USER_GATEWAY || ip === USER_DNS, GATEWAY_MAC);
      if (r) this.emit(r);
      return;
    }
    const p = type === EtherType.IPV4 ? parseIpv4Packet(frame) : undefined;
    if (!p) {
      this.stats.dropped++;
      return;
    }
    if (p.proto === IpProto.UDP) this.fromGuestUdp(frame, p);
    else if (p.proto === IpProto.TCP) this.fromGuestTcp(frame, p);
    else if (p.proto === IpProto.ICMP) this.fromGuestIcmp(frame, p);
    else this.stats.dropped++;
  }

  // ---- UDP ----

  private fromGuestUdp(f: Uint8Array, p: Ipv4Packet): void {
    if (p.end - p.l4 < UDP.size) return;
    const srcPort = get16(f, p.l4 + UDP.srcPort);
    const dstPort = get16(f, p.l4 + UDP.dstPort);
    const len = get16(f, p.l4 + UDP.len);
    if (len < UDP.size || p.l4 + len > p.end) return;
    const payload = f.subarray(p.l4 + UDP.size, p.l4 + len);
    if (dstPort === DHCP_SERVER_PORT) {
      const r = dhcpReply(this.dhcp, payload, GATEWAY_MAC);
      if (r) {
        if (r.reply.type === "ack") this.guestIp = r.reply.message.yiaddr;
        this.emit(r.frame);
      }
      return;
    }
    if (!this.fromGuest(p.src)) return;
    // A reply to a UDP port forward's host peer.
    if (p.dst === USER_GATEWAY) {
      const peer = this.udpForwardPeers.get(dstPort);
      if (peer && peer.guestPort === srcPort) {
        peer.lastActive = Date.now();
        peer.socket.send(payload, peer.port, peer.host);
        return;
      }
    }
    const key = `${srcPort}:${p.dst}:${dstPort}`;
    let flow = this.udp.get(key);
    if (!flow) {
      const target = this.target(p.dst, dstPort);
      if (!target) {
        this.stats.dropped++;
        return;
      }
      flow = this.openFlow(key, p, srcPort, dstPort, target);
    }
    flow.lastActive = Date.now();
    flow.socket.send(payload, flow.target.port, flow.target.host);
  }

  private openFlow(key: string, p: Ipv4Packet, srcPort: number, dstPort: number, target: Target): UdpFlow {
    if (this.udp.size >= MAX_UDP) {
      this.closeFlow(leastActive(this.udp.values())!);
      this.stats.udpEvicted++;
    }
    const socket = createSocket("udp4");
    const flow: UdpFlow = {
      key,
      guestIp: p.src,
      guestPort: srcPort,
      peerIp: p.dst,
      peerPort: dstPort,
      target,
      socket,
      lastActive: Date.now(),
    };
    socket.on("error", () => this.closeFlow(flow));
    socket.on("message", (msg, rinfo) => {
      // Only the far end of this flow answers it (a connected UDP socket's rule, udp(7)).
      if (rinfo.address !== target.host || rinfo.port !== target.port) return;
      flow.lastActive = Date.now();
      this.udpToGuest(flow.peerIp, flow.peerPort, flow.guestIp, flow.guestPort, msg);
    });
    this.udp.set(key, flow);
    this.ticking();
    this.stats.udpFlows++;
    return flow;
  }

  private closeFlow(flow: UdpFlow): void {
    if (this.udp.get(flow.key) !== flow) return;
    this.udp.delete(flow.key);
    flow.socket.close();
  }

  private udpToGuest(src: number, srcPort: number, dst: number, dstPort: number, payload: Uint8Array): void {
    if (payload.length > MAX_UDP_PAYLOAD) {
      this.stats.dropped++;
      return;
    }
    this.emit(
      buildUdp({ dstMac: this.ends.guestMac, srcMac: GATEWAY_MAC, srcIp: src, dstIp: dst, srcPort, dstPort, payload }),
    );
  }

  /** A datagram to a UDP forward's host port: to the guest, from the gateway and a port that stands for this peer. */
  private fromForwardPeer(f: PortForward, socket: UdpSocket, msg: Buffer, host: string, port: number): void {
    let gwPort: number | undefined;
    for (const [p, peer] of this.udpForwardPeers)
      if (peer.socket === socket && peer.host === host && peer.port === port) gwPort = p;
    if (gwPort === undefined) {
      if (this.udpForwardPeers.size >= MAX_UDP) {
        let oldest: number | undefined;
        let at = Infinity;
        for (const [p, peer] of this.udpForwardPeers)
          if (peer.lastActive < at) {
            at = peer.lastActive;
            oldest = p;
          }
        this.udpForwardPeers.delete(oldest!);
      }
      gwPort = this.gatewayPort();
      this.udpForwardPeers.set(gwPort, { socket, host, port, guestPort: f.guestPort, lastActive: Date.now() });
      this.ticking();
    }
    this.udpForwardPeers.get(gwPort)!.lastActive = Date.now();
    this.udpToGuest(USER_GATEWAY, gwPort, this.guestIp, f.guestPort, msg);
  }

  /** A port of the gateway's own for a forward's peer, not in use by another one. */
  private gatewayPort(): number {
    for (;;) {
      const p = this.nextGatewayPort;
      this.nextGatewayPort = p >= 65535 ? 49152 : p + 1;
      if (this.udpForwardPeers.has(p)) continue;
      let used = false;
      for (const c of this.tcp.values()) if (c.addr.peerIp === USER_GATEWAY && c.addr.peerPort === p) used = true;
      if (!used) return p;
    }
  }

  // ---- TCP ----

  private fromGuestTcp(f: Uint8Array, p: Ipv4Packet): void {
    const seg = parseTcp(f, p);
    if (!seg || !this.fromGuest(p.src)) return;
    const key = `${seg.srcPort}:${p.dst}:${seg.dstPort}`;
    const c = this.tcp.get(key);
    if (c) {
      c.segment(seg);
      return;
    }
    if (seg.flags & TcpFlag.RST) return;
    if (!(seg.flags & TcpFlag.SYN) || seg.flags & TcpFlag.ACK) return this.refuse(p, seg);
    const target = this.target(p.dst, seg.dstPort);
    if (!target) {
      this.stats.tcpRefused++;
      return this.refuse(p, seg);
    }
    if (this.tcp.size >= MAX_TCP) {
      leastActive(this.tcp.values())!.abort(true);
      this.stats.tcpEvicted++;
    }
    const conn = new TcpConn(
      this,
      { guestIp: p.src, guestPort: seg.srcPort, peerIp: p.dst, peerPort: seg.dstPort },
      "connecting",
    );
    this.tcp.set(key, conn);
    this.ticking();
    this.stats.tcpOpened++;
    conn.acceptSyn(seg, connect({ host: target.host, port: target.port, allowHalfOpen: true }));
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection gets a RST (a refused connect, too). */
  private refuse(p: Ipv4Packet, seg: TcpSegment): void {
    const len = seg.payload.length + (seg.flags & TcpFlag.SYN ? 1 : 0) + (seg.flags & TcpFlag.FIN ? 1 : 0);
    const hasAck = (seg.flags & TcpFlag.ACK) !== 0;
    const { frame } = buildTcp(this.ends, {
      src: p.dst,
      dst: p.src,
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: hasAck ? seg.ack : 0,
      ack: hasAck ? 0 : (seg.seq + len) >>> 0,
      flags: hasAck ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK,
      window: 0,
    });
    this.emit(frame);
  }

  /** A forward's host connection: a new connection to the guest's port, from the gateway. */
  private acceptForward(f: PortForward, socket: Socket): void {
    if (this.closed) return void socket.destroy();
    if (this.tcp.size >= MAX_TCP) {
      leastActive(this.tcp.values())!.abort(true);
      this.stats.tcpEvicted++;
    }
    socket.on("error", () => {});
    const gwPort = this.gatewayPort();
    const conn = new TcpConn(
      this,
      { guestIp: this.guestIp, guestPort: f.guestPort, peerIp: USER_GATEWAY, peerPort: gwPort },
      "syn-sent",
    );
    this.tcp.set(`${f.guestPort}:${USER_GATEWAY}:${gwPort}`, conn);
    this.ticking();
    this.stats.tcpOpened++;
    conn.openToGuest(socket);
  }

  forget(c: TcpConn): void {
    const key = `${c.addr.guestPort}:${c.addr.peerIp}:${c.addr.peerPort}`;
    if (this.tcp.get(key) === c) this.tcp.delete(key);
  }

  // ---- ICMP ----

  /** Echo to the gateway or the DNS address is answered here; elsewhere it is not forwarded (see the file's comment). */
  private fromGuestIcmp(f: Uint8Array, p: Ipv4Packet): void {
    if (p.end - p.l4 < ICMP.size || f[p.l4 + ICMP.type] !== IcmpType.ECHO_REQUEST) return;
    if (p.dst !== USER_GATEWAY && p.dst !== USER_DNS) {
      this.stats.dropped++;
      return;
    }
    this.emit(buildEchoReply(this.ends, p.dst, p.src, f.subarray(p.l4, p.end)));
  }

  // ---- policy ----

  /** Whether a packet's source is the guest on the virtual network (learning its address, as slirp does). */
  private fromGuest(src: number): boolean {
    if (src >>> (32 - USER_PREFIX) !== USER_NETWORK >>> (32 - USER_PREFIX)) return false;
    if (src === USER_GATEWAY || src === USER_DNS || (src & 0xff) === 0 || (src & 0xff) === 0xff) return false;
    this.guestIp = src;
    return true;
  }

  /** Where a guest's connection or datagram to dst:port goes on the host, or undefined when it may not go anywhere. */
  private target(dst: number, port: number): Target | undefined {
    if (dst === USER_DNS) return port === 53 ? this.resolver : undefined;
    if (dst === USER_GATEWAY) return this.config.hostLoopback ? { host: "127.0.0.1", port } : undefined;
    return outside(dst) ? { host: formatIpv4(dst), port } : undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const c of [...this.tcp.values()]) c.tick(now);
    for (const flow of [...this.udp.values()]) if (now - flow.lastActive > UDP_IDLE_MS) this.closeFlow(flow);
    for (const [p, peer] of this.udpForwardPeers)
      if (now - peer.lastActive > UDP_IDLE_MS) this.udpForwardPeers.delete(p);
    if (this.tcp.size === 0 && this.udp.size === 0 && this.udpForwardPeers.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Counts for tests and `corral ps`-style reports. */
  counts(): { tcp: number; udp: number } {
    return { tcp: this.tcp.size, udp: this.udp.size };
  }

  /** End every connection, flow and listener: the VM stopped. */
  close(): void {
    if (this.closed) return;
    for (const c of [...this.tcp.values()]) c.abort(false);
    this.closed = true;
    clearInterval(this.timer);
    for (const flow of [...this.udp.values()]) this.closeFlow(flow);
    for (const s of this.servers.splice(0)) s.close();
    for (const s of this.forwardSockets.splice(0)) s.close();
    this.udpForwardPeers.clear();
  }
}

function leastActive<T extends { lastActive: number }>(items: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const x of items) if (!best || x.lastActive < best.lastActive) best = x;
  return best;
}
