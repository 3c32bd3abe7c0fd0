/**
 * virtio-net (virtio 1.2 §5.1): one receive/transmit queue pair and a MAC address, frames to and
 * from a pluggable NetBackend (a TAP device, an in-process switch, a test wire). No offloads are
 * offered, so every frame carries a plain 12-byte virtio_net_hdr (§5.1.6: with VERSION_1 the
 * header always includes num_buffers) with no checksum or segmentation work to do.
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import type { Segment } from "./virtqueue.js";
import { ConfigSpace } from "./config-space.js";
import { gather, readSegments, writeSegments } from "./chain-io.js";
import { DeviceId, feature } from "./spec.js";

/** Where frames go and come from. */
export interface NetBackend {
  send(frame: Uint8Array): void;
  onReceive(cb: (frame: Uint8Array) => void): void;
  close?(): void;
}

/** §5.1.3 feature bits (those used here). */
export const NetFeature = { CSUM: 0, GUEST_CSUM: 1, MTU: 3, MAC: 5, MRG_RXBUF: 15, STATUS: 16, CTRL_VQ: 17 } as const;

/** §5.1.4 struct virtio_net_config (fields used here). */
export const NET_CONFIG = { size: 12, mac: 0, status: 6, maxVirtqueuePairs: 8, mtu: 10 } as const;
export const VIRTIO_NET_S_LINK_UP = 1;

/** §5.1.6 struct virtio_net_hdr. */
export const NET_HDR = { size: 12, flags: 0, gsoType: 1, hdrLen: 2, gsoSize: 4, csumStart: 6, csumOffset: 8, numBuffers: 10 } as const;

/** Ethernet frames: at least a header, at most a 1500-byte MTU frame with a VLAN tag. */
export const MIN_FRAME = 14;
export const MAX_FRAME = 1522;
/** Frames kept for a guest that posts no receive buffers; more are dropped, like a full NIC ring. */
export const RX_BACKLOG = 256;

export interface NetOptions {
  backend: NetBackend;
  /** 6-byte MAC address, e.g. "52:54:00:12:34:56". */
  mac: string;
  name?: string;
  queueSize?: number;
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
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`invalid MAC address ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export class VirtioNet implements VirtioDevice {
  readonly deviceId = DeviceId.NET;
  readonly name: string;
  readonly features = feature(NetFeature.MAC) | feature(NetFeature.STATUS);
  readonly queueMaxSizes: readonly number[];
  readonly configSize = NET_CONFIG.size;
  readonly stats: NetStats = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0 };
  private readonly config = new ConfigSpace(NET_CONFIG.size);
  private readonly backend: NetBackend;
  private ctx: VirtioDeviceContext | undefined;
  private backlog: Uint8Array[] = [];

  constructor(opts: NetOptions) {
    this.name = opts.name ?? "net0";
    this.backend = opts.backend;
    const qs = opts.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    this.config.bytes.set(parseMac(opts.mac), NET_CONFIG.mac);
    this.config.set16(NET_CONFIG.status, VIRTIO_NET_S_LINK_UP);
    this.config.set16(NET_CONFIG.maxVirtqueuePairs, 1);
    this.backend.onReceive((frame) => this.receive(frame));
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }

  /** The MAC is writable only with CTRL_MAC_ADDR or legacy drivers; neither applies: ignored. */
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.fill();
  }

  notify(index: number): void {
    if (index === 0) this.fill();
    else if (index === 1) this.transmit();
  }

  private transmit(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(1);
    if (!ctx || !vq) return;
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const frame = this.takeFrame(ctx, chain.readable, chain.readableLen);
      vq.push(chain.head, 0);
      if (!frame) {
        this.stats.txDropped++;
        continue;
      }
      this.stats.txFrames++;
      this.backend.send(frame);
    }
    ctx.signalUsed(1);
  }

  /** The frame after the header of a transmit chain, or undefined when the request is invalid. */
  private takeFrame(ctx: VirtioDeviceContext, readable: readonly Segment[], readableLen: number): Uint8Array | undefined {
    const frameLen = readableLen - NET_HDR.size;
    if (frameLen < MIN_FRAME || frameLen > MAX_FRAME) return undefined;
    const hdr = new Uint8Array(NET_HDR.size);
    readSegments(ctx.memory, readable, 0, hdr);
    // Without CSUM or GSO features the driver sends neither; a header asking for them is invalid.
    if (hdr[NET_HDR.flags] !== 0 || hdr[NET_HDR.gsoType] !== 0) return undefined;
    return gather(ctx.memory, readable, readableLen).subarray(NET_HDR.size);
  }

  /** A frame from the backend for the guest. */
  private receive(frame: Uint8Array): void {
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME || this.backlog.length >= RX_BACKLOG) {
      this.stats.rxDropped++;
      return;
    }
    this.backlog.push(frame.slice());
    this.fill();
  }

  /** Deliver backlogged frames into posted receive buffers, one frame per chain. */
  private fill(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(0);
    if (!ctx || !vq) return;
    let pushed = false;
    while (this.backlog.length > 0 && vq.hasAvailable()) {
      const chain = vq.pop();
      if (!chain) break;
      const frame = this.backlog.shift()!;
      pushed = true;
      if (chain.writableLen < NET_HDR.size + frame.length) {
        // Without MRG_RXBUF every buffer must hold a whole frame (§5.1.6.3.1); this one cannot.
        this.stats.rxDropped++;
        vq.push(chain.head, 0);
        continue;
      }
      const pkt = new Uint8Array(NET_HDR.size + frame.length);
      new DataView(pkt.buffer).setUint16(NET_HDR.numBuffers, 1, true);
      pkt.set(frame, NET_HDR.size);
      vq.push(chain.head, writeSegments(ctx.memory, chain.writable, 0, pkt));
      this.stats.rxFrames++;
    }
    if (pushed) ctx.signalUsed(0);
  }

  reset(): void {
    this.ctx = undefined;
    this.backlog = [];
  }

  close(): void {
    this.reset();
    this.backend.close?.();
  }
}
