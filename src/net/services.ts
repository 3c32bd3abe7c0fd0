/**
 * Host services on a switch port: a NetBackend wrapper that answers its guest's DHCP (dhcp.ts) and
 * ARP for the server address itself, and passes every other frame to the switch. DHCP never
 * reaches the switch, so each VM hears exactly one server: the one in its own process, which
 * shares the switch's lease file with the others.
 */
import type { NetBackend } from "../devices/virtio/net.js";
import type { NetOffload } from "../devices/virtio/net-offload.js";
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer, encodeDhcp, parseDhcp, type DhcpReply } from "./dhcp.js";
import { ARP, ArpOp, ETH, EtherType, buildUdp, get16, get32, parseUdp, set16 } from "./packet.js";

/** The MAC the host services answer from (locally administered, never a NIC's: NICs use 52:54:...). */
export const SERVICES_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);

/** RFC 826: the reply to an ARP request for an address `ours` claims, answered from `mac`; else undefined. */
export function arpReply(frame: Uint8Array, ours: (ip: number) => boolean, mac: Uint8Array): Uint8Array | undefined {
  const a = ETH.size;
  if (frame.length < a + ARP.size || get16(frame, a + ARP.op) !== ArpOp.REQUEST) return undefined;
  if (!ours(get32(frame, a + ARP.tpa))) return undefined;
  const r = new Uint8Array(ETH.size + ARP.size);
  r.set(frame.subarray(ETH.src, ETH.src + 6), ETH.dst);
  r.set(mac, ETH.src);
  set16(r, ETH.type, EtherType.ARP);
  r.set(frame.subarray(a, a + 6), a); // htype, ptype, hlen, plen as asked
  set16(r, a + ARP.op, ArpOp.REPLY);
  r.set(mac, a + ARP.sha);
  r.set(frame.subarray(a + ARP.tpa, a + ARP.tpa + 4), a + ARP.spa);
  r.set(frame.subarray(a + ARP.sha, a + ARP.sha + 10), a + ARP.tha);
  return r;
}

/** A DHCP server's answer to a client's message as a frame from `mac`, with the reply itself; undefined when none is due. */
export function dhcpReply(
  server: DhcpServer,
  payload: Uint8Array,
  mac: Uint8Array,
): { frame: Uint8Array; reply: DhcpReply } | undefined {
  const msg = parseDhcp(payload);
  if (!msg) return undefined;
  const r = server.handle(msg);
  if (!r) return undefined;
  // Broadcast to the client's MAC: before the ACK it has no address to unicast to (RFC 2131 §4.1).
  const frame = buildUdp({
    dstMac: msg.chaddr,
    srcMac: mac,
    srcIp: server.subnet.router,
    dstIp: 0xffffffff,
    srcPort: DHCP_SERVER_PORT,
    dstPort: DHCP_CLIENT_PORT,
    payload: encodeDhcp(r.message),
  });
  return { frame, reply: r };
}

export class ServicesBackend implements NetBackend {
  private cb: (frame: Uint8Array, offload?: NetOffload) => void = () => {};
  readonly stats = { dhcpReplies: 0, arpReplies: 0 };
  readonly offloads: boolean;

  constructor(
    private readonly inner: NetBackend,
    private readonly dhcp: DhcpServer,
  ) {
    this.offloads = inner.offloads ?? false;
    inner.onReceive((f, o) => this.cb(f, o));
  }

  onReceive(cb: (frame: Uint8Array, offload?: NetOffload) => void): void {
    this.cb = cb;
  }

  /** The NIC's MAC changed (an SR-IOV VF's): DHCP answers that one now. */
  setMac(mac: string): void {
    this.dhcp.client = mac;
  }

  send(frame: Uint8Array, offload?: NetOffload): void {
    // The services parse headers only (no checksum is checked), so a frame whose checksum is
    // left to do needs no finishing here: a TCP segment is simply not theirs.
    const reply = this.answer(frame);
    if (reply === null) {
      this.inner.send(frame, offload);
      return;
    }
    // Deliver after the guest's transmit completes: the device is inside its TX loop now.
    if (reply) queueMicrotask(() => this.cb(reply));
  }

  /** A reply frame, undefined when the frame is ours but needs no answer, null when it is not ours. */
  private answer(frame: Uint8Array): Uint8Array | undefined | null {
    const type = get16(frame, ETH.type);
    if (type === EtherType.ARP) return this.arp(frame);
    if (type !== EtherType.IPV4) return null;
    const udp = parseUdp(frame);
    if (!udp || udp.dstPort !== DHCP_SERVER_PORT) return null;
    const r = dhcpReply(this.dhcp, udp.payload, SERVICES_MAC);
    if (r) this.stats.dhcpReplies++;
    return r?.frame;
  }

  /** RFC 826: answer "who has <server address>"; other ARP goes to the switch. */
  private arp(frame: Uint8Array): Uint8Array | null {
    const r = arpReply(frame, (ip) => ip === this.dhcp.subnet.router, SERVICES_MAC);
    if (r) this.stats.arpReplies++;
    return r ?? null;
  }

  close(): void {
    this.inner.close?.();
  }
}
