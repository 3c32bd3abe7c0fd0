/**
 * virtio-net (virtio 1.2 §5.1): one receive/transmit queue pair and a MAC address, frames to and
 * from a pluggable NetBackend (a TAP device, the switch between VMs, a test wire). Every frame
 * carries a 12-byte virtio_net_hdr (§5.1.6: with VERSION_1 it always includes num_buffers).
 *
 * When the backend carries offload metadata (the switch does), the device offers checksum and TCP
 * segmentation offload both ways (CSUM, GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6): a guest then hands
 * over 64 KiB TCP segments with the checksum left to do, and the receiving guest takes them as
 * they are, so neither guest checksums or segments each 1500-byte frame on its emulated CPU.
 * A receiver that did not negotiate those features gets complete frames (net-offload.ts).
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import type { Chain, Segment, Virtqueue } from "./virtqueue.js";
import { ConfigSpace } from "./config-space.js";
import { gather, readSegments, writeSegments } from "./chain-io.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";
import { DeviceId, FeatureBit, feature } from "./spec.js";
import { VfPort, type VfSettings } from "./net-vf.js";
import {
  completeFrames,
  decodeOffload,
  encodeOffload,
  NetGso,
  NET_HDR_F_NEEDS_CSUM,
  offloadValid,
  type NetOffload,
} from "./net-offload.js";
import { list, num, nums, type SavedState } from "../../snapshot/state.js";

/** Where frames go and come from. */
export interface NetBackend {
  /** `offload` (only from a device whose backend says `offloads`) describes work left on the frame. */
  send(frame: Uint8Array, offload?: NetOffload): void;
  onReceive(cb: (frame: Uint8Array, offload?: NetOffload) => void): void;
  /** The backend carries offload metadata to a peer that can take it (or finishes the work itself). */
  readonly offloads?: boolean;
  /** The host's network interface behind it (a TAP device's name), for the VM's log. */
  readonly ifname?: string;
  close?(): void;
  /** The NIC's MAC changed (an SR-IOV VF's, set by the host): whom the backend's services answer. */
  setMac?(mac: string): void;
}

/** §5.1.3 feature bits (those used here). */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
} as const;
const OFFLOAD_FEATURES = [
  NetFeature.CSUM,
  NetFeature.GUEST_CSUM,
  NetFeature.GUEST_TSO4,
  NetFeature.GUEST_TSO6,
  NetFeature.HOST_TSO4,
  NetFeature.HOST_TSO6,
].reduce((f, b) => f | feature(b), 0n);

/** §5.1.4 struct virtio_net_config (fields used here). */
export const NET_CONFIG = { size: 12, mac: 0, status: 6, maxVirtqueuePairs: 8, mtu: 10 } as const;
export const VIRTIO_NET_S_LINK_UP = 1;

/** §5.1.6 struct virtio_net_hdr. */
export const NET_HDR = {
  size: 12,
  flags: 0,
  gsoType: 1,
  hdrLen: 2,
  gsoSize: 4,
  csumStart: 6,
  csumOffset: 8,
  numBuffers: 10,
} as const;

/** Ethernet frames: at least a header, at most a 1500-byte MTU frame with a VLAN tag. */
export const MIN_FRAME = 14;
export const MAX_FRAME = 1522;
/** A TSO frame: Ethernet, IPv6 header and its largest payload (64 KiB - 1). */
export const MAX_GSO_FRAME = 14 + 40 + 65535;
/** Frames kept for a guest that posts no receive buffers; more are dropped, like a full NIC ring. */
export const RX_BACKLOG = 256;

export interface NetOptions {
  backend: NetBackend;
  /** 6-byte MAC address, e.g. "52:54:00:12:34:56". */
  mac: string;
  name?: string;
  queueSize?: number;
  /** Offer checksum and segmentation offloads when the backend carries them (default true). */
  offloads?: boolean;
  /** Bandwidth and frame-rate limits, each direction on its own (rate-limit.ts); see setLimit. */
  limit?: RateLimit | undefined;
  /** SR-IOV: the NICs behind this one's virtual functions (over PCI; closed with this one). */
  virtualFunctions?: readonly VirtioNet[];
  /** This NIC is a virtual function: the host's VF settings apply to its frames (net-vf.ts). */
  vf?: boolean;
}

export interface NetStats {
  txFrames: number;
  rxFrames: number;
  txDropped: number;
  rxDropped: number;
}

/** Parse "aa:bb:cc:dd:ee:ff". */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p)))
    throw new RangeError(`invalid MAC address ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** A frame as the guest receives it: its virtio_net_hdr (one buffer, §5.1.6.4), then the frame (copied once). */
function packet(frame: Uint8Array, offload: NetOffload | undefined): Uint8Array {
  const pkt = new Uint8Array(NET_HDR.size + frame.length);
  if (offload) encodeOffload(offload, pkt, 0);
  new DataView(pkt.buffer).setUint16(NET_HDR.numBuffers, 1, true);
  pkt.set(frame, NET_HDR.size);
  return pkt;
}

export class VirtioNet implements VirtioDevice {
  readonly deviceId = DeviceId.NET;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = NET_CONFIG.size;
  readonly virtualFunctions?: readonly VirtioNet[];
  /** A VF's host-side settings (MAC, VLAN, spoof checking, trust, link state). */
  readonly vf?: VfPort;
  readonly stats: NetStats = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0 };
  private readonly config = new ConfigSpace(NET_CONFIG.size);
  private readonly backend: NetBackend;
  private ctx: VirtioDeviceContext | undefined;
  /** Feature bits 0-31 both sides agreed on (ctx.features), read per frame without BigInt work. */
  private negotiated = 0;
  /** Received packets waiting for a buffer: virtio_net_hdr and frame, ready to copy into the guest. */
  private backlog: Uint8Array[] = [];
  /**
   * With MRG_RXBUF: receive chains taken off the ring for a packet that does not fit yet. The
   * device may hold buffers as long as it likes (§2.7.13); they go out with the next packet, so
   * a packet's buffers are always consecutive in the used ring.
   */
  private held: Chain[] = [];
  /** Guest-to-host frames beyond the limit stay in the transmit ring until the timer resumes. */
  readonly txLimiter: RateLimiter;
  /** Host-to-guest frames beyond the limit wait in the backlog (and are dropped when it is full). */
  readonly rxLimiter: RateLimiter;
  /** Frames from this source MAC never leave (a fork's clone: its parent's, src/snapshot/clone-net.ts). */
  private blocked: Uint8Array | undefined;

  constructor(opts: NetOptions) {
    this.name = opts.name ?? "net0";
    this.txLimiter = new RateLimiter(opts.limit, undefined, () => this.transmit());
    this.rxLimiter = new RateLimiter(opts.limit, undefined, () => this.fill());
    this.backend = opts.backend;
    this.features =
      feature(NetFeature.MAC) |
      feature(NetFeature.STATUS) |
      feature(NetFeature.MRG_RXBUF) |
      (opts.backend.offloads && opts.offloads !== false ? OFFLOAD_FEATURES : 0n) |
      // §6: VIRTIO_F_SR_IOV tells the driver it may enable the PF's virtual functions.
      (opts.virtualFunctions?.length ? feature(FeatureBit.SR_IOV) : 0n);
    if (opts.virtualFunctions?.length) this.virtualFunctions = opts.virtualFunctions;
    if (opts.vf) this.vf = new VfPort(opts.mac.toLowerCase());
    const qs = opts.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    this.config.bytes.set(parseMac(opts.mac), NET_CONFIG.mac);
    this.config.set16(NET_CONFIG.status, VIRTIO_NET_S_LINK_UP);
    this.config.set16(NET_CONFIG.maxVirtqueuePairs, 1);
    this.backend.onReceive((frame, offload) => this.receive(frame, offload));
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }

  /** The MAC is writable only with CTRL_MAC_ADDR or legacy drivers; neither applies: ignored. */
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.negotiated = Number(ctx.features & 0xffffffffn);
    this.fill();
  }

  notify(index: number): void {
    if (index === 0 && !this.rxLimiter.waiting) this.fill();
    else if (index === 1 && !this.txLimiter.waiting) this.transmit();
  }

  /** New limits for both directions of a running NIC, in force at once. */
  setLimit(limit: RateLimit | undefined): void {
    this.txLimiter.set(limit);
    this.rxLimiter.set(limit);
    this.transmit();
    this.fill();
  }

  private transmit(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(1);
    if (!ctx || !vq) return;
    for (let chain; this.txLimiter.allows() && (chain = vq.pop());) {
      const taken = this.takeFrame(ctx, chain.readable, chain.readableLen);
      vq.push(chain.head, 0);
      if (!taken || (this.blocked !== undefined && this.fromBlocked(taken.frame))) {
        this.stats.txDropped++;
        continue;
      }
      this.stats.txFrames++;
      this.txLimiter.charge(taken.frame.length);
      if (!this.vf) this.backend.send(taken.frame, taken.offload);
      else for (const o of this.vf.egress(taken.frame, taken.offload)) this.backend.send(o.frame, o.offload);
    }
    ctx.signalUsed(1);
  }

  /**
   * Change a VF's host-side settings. A new MAC is what spoof checking and the switch's DHCP
   * answer from now on, and what the guest's driver reads when it next probes the VF (virtio-net
   * reads the MAC once, §5.1.5); a link state change interrupts the driver (§5.1.4, STATUS).
   */
  setVf(change: Partial<VfSettings>): void {
    const vf = this.vf;
    if (!vf) throw new RangeError(`${this.name} is not a virtual function`);
    if (change.mac !== undefined) {
      const mac = change.mac.toLowerCase();
      vf.setMac(mac);
      this.config.bytes.set(parseMac(mac), NET_CONFIG.mac);
      this.backend.setMac?.(mac);
    }
    if (change.vlan !== undefined) vf.settings.vlan = change.vlan;
    if (change.spoofchk !== undefined) vf.settings.spoofchk = change.spoofchk;
    if (change.trust !== undefined) vf.settings.trust = change.trust;
    if (change.state !== undefined && change.state !== vf.settings.state) {
      const wasUp = vf.linkUp;
      vf.settings.state = change.state;
      if (vf.linkUp !== wasUp) {
        this.config.set16(NET_CONFIG.status, vf.linkUp ? VIRTIO_NET_S_LINK_UP : 0);
        this.ctx?.configChanged();
      }
    }
  }

  /** Drop every frame the guest sends from `mac` from now on. */
  blockSource(mac: string): void {
    this.blocked = parseMac(mac);
  }

  private fromBlocked(frame: Uint8Array): boolean {
    const b = this.blocked!;
    for (let i = 0; i < 6; i++) if (frame[6 + i] !== b[i]) return false;
    return true;
  }

  /** The host's network interface behind this NIC, if it has one (a TAP device). */
  get hostIfname(): string | undefined {
    return this.backend.ifname;
  }

  private has(bit: number): boolean {
    return ((this.negotiated >>> bit) & 1) === 1;
  }

  /** Whether the guest negotiated what `o` leaves to do (§5.1.6.4: GUEST_CSUM, GUEST_TSO4/6). */
  private guestTakes(o: NetOffload): boolean {
    if (o.flags & NET_HDR_F_NEEDS_CSUM && !this.has(NetFeature.GUEST_CSUM)) return false;
    if (o.gsoType === NetGso.TCPV4) return this.has(NetFeature.GUEST_TSO4);
    if (o.gsoType === NetGso.TCPV6) return this.has(NetFeature.GUEST_TSO6);
    return true;
  }

  /**
   * The frame after the header of a transmit chain and what is left to do on it, or undefined
   * when the request is invalid: a header may ask only for what was negotiated (§5.1.6.2.1).
   */
  private takeFrame(
    ctx: VirtioDeviceContext,
    readable: readonly Segment[],
    readableLen: number,
  ): { frame: Uint8Array; offload: NetOffload | undefined } | undefined {
    const frameLen = readableLen - NET_HDR.size;
    if (frameLen < MIN_FRAME || frameLen > MAX_GSO_FRAME) return undefined;
    const hdr = new Uint8Array(NET_HDR.size);
    readSegments(ctx.memory, readable, 0, hdr);
    const offload = decodeOffload(hdr, 0);
    if (offload) {
      if (!offloadValid(offload, frameLen)) return undefined;
      if (offload.flags & NET_HDR_F_NEEDS_CSUM && !this.has(NetFeature.CSUM)) return undefined;
      if (offload.gsoType === NetGso.TCPV4 && !this.has(NetFeature.HOST_TSO4)) return undefined;
      if (offload.gsoType === NetGso.TCPV6 && !this.has(NetFeature.HOST_TSO6)) return undefined;
    }
    if (frameLen > MAX_FRAME && (offload === undefined || offload.gsoType === NetGso.NONE)) return undefined;
    return { frame: gather(ctx.memory, readable, readableLen).subarray(NET_HDR.size), offload };
  }

  /** A frame from the backend for the guest; finished in software when the guest cannot take the offload. */
  private receive(frame: Uint8Array, offload?: NetOffload): void {
    if (this.vf) {
      const r = this.vf.ingress(frame, offload);
      if (!r) return;
      frame = r.frame;
      offload = r.offload;
    }
    if (
      frame.length < MIN_FRAME ||
      frame.length > (offload ? MAX_GSO_FRAME : MAX_FRAME) ||
      this.backlog.length >= RX_BACKLOG
    ) {
      this.stats.rxDropped++;
      return;
    }
    if (offload && !offloadValid(offload, frame.length)) {
      this.stats.rxDropped++;
      return;
    }
    if (offload && !this.guestTakes(offload)) {
      for (const f of completeFrames(frame, offload)) this.backlog.push(packet(f, undefined));
    } else {
      this.backlog.push(packet(frame, offload));
    }
    this.fill();
  }

  /** Deliver backlogged frames into posted receive buffers. */
  private fill(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(0);
    if (!ctx || !vq) return;
    const pushed = this.has(NetFeature.MRG_RXBUF) ? this.fillMerged(ctx, vq) : this.fillWhole(ctx, vq);
    if (pushed) ctx.signalUsed(0);
  }

  /** One frame per chain: without MRG_RXBUF every buffer must hold a whole frame (§5.1.6.3.1). */
  private fillWhole(ctx: VirtioDeviceContext, vq: Virtqueue): boolean {
    let pushed = false;
    while (this.backlog.length > 0 && vq.hasAvailable() && this.rxLimiter.allows()) {
      const chain = vq.pop();
      if (!chain) break;
      const pkt = this.backlog.shift()!;
      this.rxLimiter.charge(pkt.length - NET_HDR.size);
      pushed = true;
      if (chain.writableLen < pkt.length) {
        this.stats.rxDropped++;
        vq.push(chain.head, 0);
        continue;
      }
      vq.push(chain.head, writeSegments(ctx.memory, chain.writable, 0, pkt));
      this.stats.rxFrames++;
    }
    return pushed;
  }

  /**
   * MRG_RXBUF (§5.1.6.4): a packet fills as many buffers as it needs, each but the last up to its
   * full length, and the first one's header says how many (num_buffers). A buffer too short for
   * the header breaks the driver's side of the contract (§5.1.6.3.1) and is returned empty.
   */
  private fillMerged(ctx: VirtioDeviceContext, vq: Virtqueue): boolean {
    let pushed = false;
    const held = this.held;
    let room = 0;
    let descs = 0;
    for (const c of held) {
      room += c.writableLen;
      descs += c.ringDescs;
    }
    while (this.backlog.length > 0 && this.rxLimiter.allows()) {
      const pkt = this.backlog[0]!;
      while (room < pkt.length) {
        const c = vq.pop();
        if (!c) break;
        if (c.writableLen < NET_HDR.size) {
          vq.push(c.head, 0);
          pushed = true;
          continue;
        }
        held.push(c);
        room += c.writableLen;
        descs += c.ringDescs;
      }
      if (room < pkt.length) {
        // Wait for more buffers, unless the guest could never post enough: every descriptor of
        // the ring is in a held chain (counting chains would stall on multi-descriptor chains).
        if (descs < vq.config.size) break;
        this.backlog.shift();
        this.stats.rxDropped++;
        continue;
      }
      this.backlog.shift();
      this.rxLimiter.charge(pkt.length - NET_HDR.size);
      let count = 0;
      for (let need = pkt.length; need > 0; count++) need -= held[count]!.writableLen;
      new DataView(pkt.buffer, pkt.byteOffset).setUint16(NET_HDR.numBuffers, count, true);
      let done = 0;
      for (const c of held.splice(0, count)) {
        const n = writeSegments(ctx.memory, c.writable, 0, pkt.subarray(done, done + c.writableLen));
        vq.push(c.head, n);
        room -= c.writableLen;
        descs -= c.ringDescs;
        done += n;
      }
      pushed = true;
      this.stats.rxFrames++;
    }
    return pushed;
  }

  /** The MAC address the guest was given (config space), as "52:54:00:..". */
  get mac(): string {
    return Array.from(this.config.bytes.subarray(NET_CONFIG.mac, NET_CONFIG.mac + 6), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join(":");
  }

  /**
   * Frames waiting for receive buffers and the receive chains held for a packet (by head: the
   * restored device walks them again from guest RAM). The host side (switch port, TAP) is opened
   * anew by the restore, with the same MAC (src/snapshot/write.ts records it in the spec).
   */
  saveState(): SavedState {
    return {
      negotiated: this.negotiated,
      backlog: this.backlog.map((f) => Buffer.from(f).toString("base64")),
      held: this.held.map((c) => c.head),
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | undefined): void {
    this.ctx = ctx;
    this.negotiated = num(s, "negotiated");
    this.backlog = list(s, "backlog").map((f) => new Uint8Array(Buffer.from(typeof f === "string" ? f : "", "base64")));
    const vq = ctx?.queue(0);
    this.held = vq ? nums(s, "held").flatMap((h) => vq.chainAt(h) ?? []) : [];
    // Frames a rate limit held in the transmit ring, and the backlog: served once the restore is
    // done (the guest will not notify for them again). The limiters start full.
    if (ctx)
      setImmediate(() => {
        this.transmit();
        this.fill();
      });
  }

  reset(): void {
    this.ctx = undefined;
    this.txLimiter.cancel();
    this.rxLimiter.cancel();
    this.negotiated = 0;
    this.backlog = [];
    this.held = [];
  }

  close(): void {
    this.reset();
    this.backend.close?.();
    for (const vf of this.virtualFunctions ?? []) vf.close();
  }
}
