/**
 * A DHCP server (RFC 2131) for the guests on a Corral switch: DISCOVER gets an OFFER, REQUEST an
 * ACK (or a NAK for an address that is not the client's), RELEASE frees the lease. Addresses come
 * from a LeaseStore, which the switch shares between the VM processes so every VM on the switch
 * sees the same leases. Options are RFC 2132's.
 */
import { formatMac, get16, get32, set16, set32 } from "./packet.js";

/** RFC 2131 §2 Figure 1: the fixed part of a DHCP message; options follow the magic cookie. */
export const DHCP = {
  op: 0,
  htype: 1,
  hlen: 2,
  hops: 3,
  xid: 4,
  secs: 8,
  flags: 10,
  ciaddr: 12,
  yiaddr: 16,
  siaddr: 20,
  giaddr: 24,
  chaddr: 28,
  sname: 44,
  file: 108,
  magic: 236,
  options: 240,
} as const;
export const DHCP_MAGIC = 0x63825363;
export const BootOp = { REQUEST: 1, REPLY: 2 } as const;
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

/** RFC 2132 option codes used here. */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  MSG_TYPE: 53,
  SERVER_ID: 54,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  END: 255,
} as const;

/** RFC 2132 §9.6 DHCP message types. */
export const MsgType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export interface DhcpMessage {
  op: number;
  xid: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  chaddr: Uint8Array;
  /** Option code to value; the message type is options.get(53)?.[0]. */
  options: Map<number, Uint8Array>;
}

/** Parse a BOOTP/DHCP payload; undefined when it is not a well-formed DHCP message. */
export function parseDhcp(p: Uint8Array): DhcpMessage | undefined {
  if (p.length < DHCP.options || get32(p, DHCP.magic) !== DHCP_MAGIC) return undefined;
  if (p[DHCP.htype] !== 1 || p[DHCP.hlen] !== 6) return undefined;
  const options = new Map<number, Uint8Array>();
  let i: number = DHCP.options;
  while (i < p.length) {
    const code = p[i]!;
    if (code === Opt.END) break;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len === undefined || i + 2 + len > p.length) return undefined;
    options.set(code, p.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return {
    op: p[DHCP.op]!,
    xid: get32(p, DHCP.xid),
    flags: get16(p, DHCP.flags),
    ciaddr: get32(p, DHCP.ciaddr),
    yiaddr: get32(p, DHCP.yiaddr),
    siaddr: get32(p, DHCP.siaddr),
    giaddr: get32(p, DHCP.giaddr),
    chaddr: p.slice(DHCP.chaddr, DHCP.chaddr + 6),
    options,
  };
}

/** Encode a DHCP message; options in insertion order, then END. */
export function encodeDhcp(m: DhcpMessage): Uint8Array {
  let optLen = 1;
  for (const v of m.options.values()) optLen += 2 + v.length;
  // BOOTP's minimum message is 300 bytes (RFC 1542 §3.1.1); some clients insist on it.
  const p = new Uint8Array(Math.max(300, DHCP.options + optLen));
  p[DHCP.op] = m.op;
  p[DHCP.htype] = 1;
  p[DHCP.hlen] = 6;
  set32(p, DHCP.xid, m.xid);
  set16(p, DHCP.flags, m.flags);
  set32(p, DHCP.ciaddr, m.ciaddr);
  set32(p, DHCP.yiaddr, m.yiaddr);
  set32(p, DHCP.siaddr, m.siaddr);
  set32(p, DHCP.giaddr, m.giaddr);
  p.set(m.chaddr.subarray(0, 6), DHCP.chaddr);
  set32(p, DHCP.magic, DHCP_MAGIC);
  let i: number = DHCP.options;
  for (const [code, v] of m.options) {
    p[i] = code;
    p[i + 1] = v.length;
    p.set(v, i + 2);
    i += 2 + v.length;
  }
  p[i] = Opt.END;
  return p;
}

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  set32(b, 0, v);
  return b;
}

/** Who gets which address. Implementations must give one MAC one address and never one address to two MACs. */
export interface LeaseStore {
  /** The address leased to mac (a new one if it has none, `hint` if that one is free); undefined when the pool is exhausted. */
  allocate(mac: string, hint?: number): number | undefined;
  lookup(mac: string): number | undefined;
  release(mac: string): void;
}

export interface Subnet {
  /** Network address, e.g. 10.0.2.0. */
  network: number;
  prefix: number;
  /** The router and DHCP server identifier. */
  router: number;
  leaseSeconds: number;
  /** A DNS server to name in leases (RFC 2132 §3.8); none when absent. */
  dns?: number;
}

export function netmask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export type DhcpReply = { type: "offer" | "ack" | "nak"; message: DhcpMessage };

export class DhcpServer {
  /**
   * `client`: the MAC of the one NIC this server answers ("52:54:..."). The guest writes chaddr,
   * and leases (a file shared by every VM on the switch) are keyed by it: a server that took any
   * chaddr would let one guest take every address with made-up MACs, or RELEASE and then take
   * another VM's. With `client`, a message for any other MAC is ignored.
   */
  constructor(
    readonly subnet: Subnet,
    private readonly leases: LeaseStore,
    public client?: string,
  ) {}

  /** The reply to a client's message, or undefined when none is due (RFC 2131 §4.3). */
  handle(req: DhcpMessage): DhcpReply | undefined {
    if (req.op !== BootOp.REQUEST) return undefined;
    const type = req.options.get(Opt.MSG_TYPE)?.[0];
    const mac = formatMac(req.chaddr);
    if (this.client !== undefined && mac !== this.client.toLowerCase()) return undefined;
    const requested = optU32(req.options.get(Opt.REQUESTED_IP));
    switch (type) {
      case MsgType.DISCOVER: {
        const ip = this.leases.allocate(mac, requested);
        return ip === undefined ? undefined : { type: "offer", message: this.reply(req, MsgType.OFFER, ip) };
      }
      case MsgType.REQUEST: {
        // §4.3.2: a REQUEST naming another server means the client took that server's offer.
        const server = optU32(req.options.get(Opt.SERVER_ID));
        if (server !== undefined && server !== this.subnet.router) {
          return undefined;
        }
        const want = requested ?? req.ciaddr;
        const ip =
          this.leases.lookup(mac) ?? (want !== 0 && this.inSubnet(want) ? this.leases.allocate(mac, want) : undefined);
        if (ip !== undefined && ip === want) return { type: "ack", message: this.reply(req, MsgType.ACK, ip) };
        return { type: "nak", message: this.reply(req, MsgType.NAK, 0) };
      }
      case MsgType.RELEASE:
      case MsgType.DECLINE:
        this.leases.release(mac);
        return undefined;
      default:
        return undefined;
    }
  }

  private inSubnet(ip: number): boolean {
    const mask = netmask(this.subnet.prefix);
    return (ip & mask) >>> 0 === this.subnet.network;
  }

  private reply(req: DhcpMessage, type: number, yiaddr: number): DhcpMessage {
    const options = new Map<number, Uint8Array>([
      [Opt.MSG_TYPE, Uint8Array.of(type)],
      [Opt.SERVER_ID, u32(this.subnet.router)],
    ]);
    if (type !== MsgType.NAK) {
      const t = this.subnet.leaseSeconds;
      options.set(Opt.LEASE_TIME, u32(t));
      options.set(Opt.RENEWAL_T1, u32(Math.floor(t / 2)));
      options.set(Opt.REBINDING_T2, u32(Math.floor((t * 7) / 8)));
      options.set(Opt.SUBNET_MASK, u32(netmask(this.subnet.prefix)));
      options.set(Opt.ROUTER, u32(this.subnet.router));
      if (this.subnet.dns !== undefined) options.set(Opt.DNS, u32(this.subnet.dns));
    }
    return {
      op: BootOp.REPLY,
      xid: req.xid,
      flags: req.flags,
      ciaddr: 0,
      yiaddr,
      siaddr: this.subnet.router,
      giaddr: req.giaddr,
      chaddr: req.chaddr,
      options,
    };
  }
}

function optU32(v: Uint8Array | undefined): number | undefined {
  return v && v.length === 4 ? get32(v, 0) : undefined;
}
