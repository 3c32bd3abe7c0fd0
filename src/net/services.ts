/**
 * Host services on a switch port: a NetBackend wrapper that answers its guest's DHCP (dhcp.ts) and
 * ARP for the server address itself, and passes every other frame to the switch. DHCP never
 * reaches the switch, so each VM hears exactly one server: the one in its own process, which
 * shares the switch's lease file with the others.
 */
import type { NetBackend } from "../devices/virtio/net.js";
import type { NetOffload } from "../devices/virtio/net-offload.js";
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, DhcpServer, encodeDhcp, parseDhcp } from "./dhcp.js";
import { ARP, ArpOp, ETH, EtherType, buildUdp, get16, get32, parseUdp, set16 } from "./packet.js";

/** The MAC the host services answer from (locally administered, never a NIC's: NICs use 52:54:...). */
export const SERVICES_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);

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
    const msg = parseDhcp(udp.payload);
    if (!msg) return undefined;
    const r = this.dhcp.handle(msg);
    if (!r) return undefined;
    this.stats.dhcpReplies++;
    // Broadcast to the client's MAC: before the ACK it has no address to unicast to (RFC 2131 §4.1).
    return buildUdp({
      dstMac: msg.chaddr,
      srcMac: SERVICES_MAC,
      srcIp: this.dhcp.subnet.router,
      dstIp: 0xffffffff,
      srcPort: DHCP_SERVER_PORT,
      dstPort: DHCP_CLIENT_PORT,
      payload: encodeDhcp(r.message),
    });
  }

  /** RFC 826: answer "who has <server address>"; other ARP goes to the switch. */
  private arp(frame: Uint8Array): Uint8Array | null {
    const a = ETH.size;
    if (frame.length < a + ARP.size || get16(frame, a + ARP.op) !== ArpOp.REQUEST) return null;
    if (get32(frame, a + ARP.tpa) !== this.dhcp.subnet.router) return null;
    const r = new Uint8Array(ETH.size + ARP.size);
    r.set(frame.subarray(ETH.src, ETH.src + 6), ETH.dst);
    r.set(SERVICES_MAC, ETH.src);
    set16(r, ETH.type, EtherType.ARP);
    r.set(frame.subarray(a, a + 6), a); // htype, ptype, hlen, plen as asked
    set16(r, a + ARP.op, ArpOp.REPLY);
    r.set(SERVICES_MAC, a + ARP.sha);
    r.set(frame.subarray(a + ARP.tpa, a + ARP.tpa + 4), a + ARP.spa);
    r.set(frame.subarray(a + ARP.sha, a + ARP.sha + 10), a + ARP.tha);
    this.stats.arpReplies++;
    return r;
  }

  close(): void {
    this.inner.close?.();
  }
}
