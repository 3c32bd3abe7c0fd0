/**
 * virtio-vsock (virtio 1.2 §5.10): stream sockets between guest programs (AF_VSOCK, the CID in
 * the configuration space) and host programs (CID 2), without a network. Queues (§5.10.2): 0 rx
 * (packets for the guest), 1 tx (packets from the guest), 2 event (unused: no live migration).
 *
 * Connections end on the host in a VsockBackend (vsock-unix.ts: Unix sockets in Firecracker's
 * convention). The guest is untrusted, so:
 * - connections are capped (MAX_CONNECTIONS) and a request beyond the cap is answered RST;
 * - flow control is the spec's credit (§5.10.6.3): the host advertises BUF_ALLOC bytes per
 *   connection and a guest that sends beyond it is reset, so bytes held for a slow host reader
 *   never exceed BUF_ALLOC; bytes for a guest that does not read are bounded by pausing the host
 *   socket (HOST_PENDING_LIMIT), and answers for the guest by CONTROL_LIMIT;
 * - a header with the wrong CIDs is dropped, one with a bad length, type or op is answered RST,
 *   and nothing a guest writes throws.
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { ConfigSpace } from "./config-space.js";
import { readSegments, writeSegments } from "./chain-io.js";
import { VSOCK_CONFIG, VSOCK_HDR } from "./layout.js";
import { DeviceId } from "./spec.js";

/** §5.10.4: CIDs 0, 1, 2 (the host) and 0xffffffff are reserved; the upper 32 bits are zero. */
export const VSOCK_HOST_CID = 2;
export const MIN_GUEST_CID = 3;
export const MAX_GUEST_CID = 0xfffffffe;

/** §5.10.6 operations. */
export const VsockOp = {
  INVALID: 0,
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;
/** §5.10.6.2 socket types: only streams (no VIRTIO_VSOCK_F_SEQPACKET offered). */
export const VSOCK_TYPE_STREAM = 1;
/** §5.10.6.5 SHUTDOWN flags: the sender will receive no more / send no more. */
export const VsockShutdown = { RCV: 1, SEND: 2 } as const;

/** Open connections (and handshakes) at most; Firecracker's default limit is the same order. */
export const MAX_CONNECTIONS = 1024;
/** Receive buffer the host advertises per connection (buf_alloc): what a guest may have unforwarded. */
export const BUF_ALLOC = 128 * 1024;
/** Payload bytes of one packet at most, either way (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
export const MAX_PAYLOAD = 64 * 1024;
/** Host bytes held for a guest that is not reading before the host socket is paused. */
export const HOST_PENDING_LIMIT = 64 * 1024;
/** Header-only packets (answers, resets, credit updates) held for a guest that posts no rx buffers. */
export const CONTROL_LIMIT = 4096;
/** Local ports the host side gives host-initiated connections (Firecracker starts them at 2^30). */
export const HOST_PORT_BASE = 2 ** 30;
/** A guest that neither accepts nor refuses a host connection, or never finishes closing one. */
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface VsockHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

const F = VSOCK_HDR.fields;

export function decodeVsockHeader(b: Uint8Array): VsockHeader {
  const v = new DataView(b.buffer, b.byteOffset, VSOCK_HDR.size);
  return {
    srcCid: v.getBigUint64(F.srcCid.offset, true),
    dstCid: v.getBigUint64(F.dstCid.offset, true),
    srcPort: v.getUint32(F.srcPort.offset, true),
    dstPort: v.getUint32(F.dstPort.offset, true),
    len: v.getUint32(F.len.offset, true),
    type: v.getUint16(F.type.offset, true),
    op: v.getUint16(F.op.offset, true),
    flags: v.getUint32(F.flags.offset, true),
    bufAlloc: v.getUint32(F.bufAlloc.offset, true),
    fwdCnt: v.getUint32(F.fwdCnt.offset, true),
  };
}

/** Write `h` into the first VSOCK_HDR.size bytes of `b`. */
export function encodeVsockHeader(h: VsockHeader, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, VSOCK_HDR.size);
  v.setBigUint64(F.srcCid.offset, h.srcCid, true);
  v.setBigUint64(F.dstCid.offset, h.dstCid, true);
  v.setUint32(F.srcPort.offset, h.srcPort >>> 0, true);
  v.setUint32(F.dstPort.offset, h.dstPort >>> 0, true);
  v.setUint32(F.len.offset, h.len >>> 0, true);
  v.setUint16(F.type.offset, h.type, true);
  v.setUint16(F.op.offset, h.op, true);
  v.setUint32(F.flags.offset, h.flags >>> 0, true);
  v.setUint32(F.bufAlloc.offset, h.bufAlloc >>> 0, true);
  v.setUint32(F.fwdCnt.offset, h.fwdCnt >>> 0, true);
}

/** The host end of one connection (a Unix socket in vsock-unix.ts). The device calls these. */
export interface HostEnd {
  /** Bytes the guest sent. */
  write(bytes: Uint8Array): void;
  /** Bytes given to write() the host has not taken yet: they still count against the guest's credit. */
  readonly queued: number;
  /** The guest will send no more (SHUTDOWN with SEND). */
  endWrite(): void;
  /** Stop and restart reading the host side (the guest is not taking bytes). */
  pause(): void;
  resume(): void;
  /** The guest accepted a host-initiated connection; the host side's local port is `hostPort`. */
  established(hostPort: number): void;
  /** The connection is over: release the host side. */
  close(): void;
}

/** What the host end calls on the device. */
export interface GuestEnd {
  /** Bytes from the host for the guest. */
  data(bytes: Uint8Array): void;
  /** The host will send no more. */
  end(): void;
  /** The host side is gone. */
  closed(): void;
  /** The host took queued bytes: the guest may get credit back. */
  drained(): void;
}

export interface VsockBackend {
  /** The guest connects to host port `port`: call `done` with the host end, or null when nothing listens. */
  connect(port: number, guest: GuestEnd, done: (host: HostEnd | null) => void): void;
  /** Accept host connections from now on: `open` gives the guest end, or null when refused. */
  start(open: (guestPort: number, host: HostEnd) => GuestEnd | null): void;
  /** Stop accepting and release every host resource. */
  close(): void;
}

export interface VsockOptions {
  guestCid: number;
  backend: VsockBackend;
  name?: string;
  queueSize?: number;
}

/** One connection, keyed by (guest port, host port). */
class Connection implements GuestEnd {
  host: HostEnd | undefined;
  /** "connecting": waiting for the other side's answer (the backend's, or the guest's RESPONSE). */
  state: "connecting" | "open" = "connecting";
  removed = false;
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** Payload bytes sent to the guest, and received from it (free-running, mod 2^32 on the wire). */
  txCnt = 0;
  rxCnt = 0;
  fwdCnt = 0;
  lastFwdSent = 0;
  creditQueued = false;
  pending: Uint8Array[] = [];
  pendingBytes = 0;
  paused = false;
  /** SHUTDOWN flags the host side owes the guest once pending bytes are delivered. */
  hostShut = 0;
  shutSent = 0;
  /** The guest will receive no more (its SHUTDOWN RCV). */
  guestNoRecv = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dev: VirtioVsock,
    readonly guestPort: number,
    readonly hostPort: number,
    readonly fromHost: boolean,
  ) {}

  data(bytes: Uint8Array): void {
    if (this.removed || this.guestNoRecv || bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= HOST_PENDING_LIMIT && !this.paused) {
      this.paused = true;
      this.host?.pause();
    }
    this.dev.kick(this);
  }
  end(): void {
    this.hostShut |= VsockShutdown.SEND;
    this.dev.kick(this);
  }
  closed(): void {
    this.hostShut |= VsockShutdown.SEND | VsockShutdown.RCV;
    this.dev.hostClosed(this);
  }
  drained(): void {
    this.dev.creditChanged(this, true);
  }

  /** §5.10.6.3: what the guest can still receive, peer_buf_alloc - (tx_cnt - peer_fwd_cnt). */
  credit(): number {
    return Math.max(0, this.peerBufAlloc - ((this.txCnt - this.peerFwdCnt) >>> 0));
  }

  /** Bytes received from the guest that the host has taken (never decreasing). */
  forwarded(): number {
    this.fwdCnt = Math.max(this.fwdCnt, this.rxCnt - (this.host?.queued ?? 0));
    return this.fwdCnt;
  }

  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.pending[0]!;
      const k = Math.min(head.length, n - at);
      out.set(head.subarray(0, k), at);
      at += k;
      if (k === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(k);
    }
    this.pendingBytes -= n;
    return out;
  }
}

/** A header-only packet for the guest; `conn` supplies the credit fields when it still exists. */
interface Control {
  op: number;
  hostPort: number;
  guestPort: number;
  flags: number;
  conn?: Connection;
}

export class VirtioVsock implements VirtioDevice {
  readonly deviceId = DeviceId.SOCKET;
  readonly name: string;
  /** No feature bits: streams only (§5.10.3, VIRTIO_VSOCK_F_STREAM is implied when none is negotiated). */
  readonly features = 0n;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = VSOCK_CONFIG.size;
  readonly guestCid: number;
  private readonly config = new ConfigSpace(VSOCK_CONFIG.size);
  private readonly backend: VsockBackend;
  private ctx: VirtioDeviceContext | undefined;
  private readonly conns = new Map<string, Connection>();
  /** Connections with bytes for the guest, in round-robin order. */
  private readonly ready = new Set<Connection>();
  private control: Control[] = [];
  private nextHostPort = HOST_PORT_BASE;
  /** Packets from the guest dropped or answered RST as malformed (for tests and logs). */
  rejected = 0;

  constructor(opts: VsockOptions) {
    if (!Number.isInteger(opts.guestCid) || opts.guestCid < MIN_GUEST_CID || opts.guestCid > MAX_GUEST_CID) {
      throw new RangeError(`guest CID ${opts.guestCid} is not between ${MIN_GUEST_CID} and ${MAX_GUEST_CID}`);
    }
    this.name = opts.name ?? "vsock0";
    this.guestCid = opts.guestCid;
    this.backend = opts.backend;
    const qs = opts.queueSize ?? 128;
    this.queueMaxSizes = [qs, qs, qs];
    this.config.set64(VSOCK_CONFIG.fields.guestCid.offset, BigInt(opts.guestCid));
    this.backend.start((port, host) => this.openFromHost(port, host));
  }

  /** Open connections and handshakes. */
  get connections(): number {
    return this.conns.size;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  notify(index: number): void {
    if (index === 1) this.transmit();
    // rx (0): new buffers for pending packets. event (2): buffers are kept; no event is ever sent.
    this.deliver();
  }

  reset(): void {
    // A device reset ends every connection (the driver forgets them too); their host sockets close.
    for (const c of this.conns.values()) this.drop(c);
    this.control = [];
    this.ctx = undefined;
  }

  close(): void {
    this.reset();
    this.backend.close();
  }

  /** Packets from the guest (§5.10.6.4): header, then `len` payload bytes for RW. */
  private transmit(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(1);
    if (!ctx || !vq) return;
    const hdr = new Uint8Array(VSOCK_HDR.size);
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const got = readSegments(ctx.memory, chain.readable, 0, hdr);
      let h: VsockHeader | undefined;
      let payload: Uint8Array | null = null;
      if (got === VSOCK_HDR.size) {
        h = decodeVsockHeader(hdr);
        if (h.op === VsockOp.RW && h.len <= MAX_PAYLOAD && h.len <= chain.readableLen - VSOCK_HDR.size) {
          payload = new Uint8Array(h.len);
          readSegments(ctx.memory, chain.readable, VSOCK_HDR.size, payload);
        }
      }
      vq.push(chain.head, 0);
      if (h) this.fromGuest(h, payload);
      else this.rejected++;
    }
    ctx.signalUsed(1);
  }

  private fromGuest(h: VsockHeader, payload: Uint8Array | null): void {
    // A packet not from this guest's CID or not for the host has nobody to answer: dropped.
    if (h.srcCid !== BigInt(this.guestCid) || h.dstCid !== BigInt(VSOCK_HOST_CID)) {
      this.rejected++;
      return;
    }
    const conn = this.conns.get(key(h.srcPort, h.dstPort));
    // §5.10.6.4: a packet of an unknown type is answered RST.
    if (h.type !== VSOCK_TYPE_STREAM) {
      this.rejected++;
      if (conn) this.reset1(conn);
      else if (h.op !== VsockOp.RST) this.answerRst(h);
      return;
    }
    if (!conn) {
      if (h.op === VsockOp.REQUEST) this.openFromGuest(h);
      // Anything else for an unknown connection is answered RST, never an RST itself (§5.10.6.5:
      // RST aborts; Linux's virtio_transport_reset_no_sock does the same).
      else if (h.op !== VsockOp.RST) this.answerRst(h);
      return;
    }
    conn.peerBufAlloc = h.bufAlloc;
    conn.peerFwdCnt = h.fwdCnt;
    switch (h.op) {
      case VsockOp.RESPONSE:
        if (!conn.fromHost || conn.state !== "connecting") return this.reset1(conn);
        conn.state = "open";
        clearTimeout(conn.timer);
        conn.host?.established(conn.hostPort);
        break;
      case VsockOp.RW:
        this.guestData(conn, h, payload);
        break;
      case VsockOp.CREDIT_UPDATE:
        break;
      case VsockOp.CREDIT_REQUEST:
        this.queueControl({
          op: VsockOp.CREDIT_UPDATE,
          hostPort: conn.hostPort,
          guestPort: conn.guestPort,
          flags: 0,
          conn,
        });
        break;
      case VsockOp.SHUTDOWN:
        this.guestShutdown(conn, h.flags);
        break;
      case VsockOp.RST:
        this.drop(conn);
        break;
      default:
        // REQUEST on an existing connection, INVALID, or an op this device does not know.
        this.rejected++;
        this.reset1(conn);
    }
    if (!conn.removed && conn.pendingBytes > 0) this.ready.add(conn);
  }

  private guestData(conn: Connection, h: VsockHeader, payload: Uint8Array | null): void {
    if (payload === null || conn.state !== "open") {
      this.rejected++;
      return this.reset1(conn);
    }
    if (payload.length === 0) return;
    // §5.10.6.3: the sender must not exceed the receiver's free space; one that does is reset.
    if (conn.rxCnt - conn.forwarded() + payload.length > BUF_ALLOC) {
      this.rejected++;
      return this.reset1(conn);
    }
    conn.rxCnt += payload.length;
    conn.host?.write(payload);
    this.creditChanged(conn, false);
  }

  private guestShutdown(conn: Connection, flags: number): void {
    if (flags & VsockShutdown.RCV) {
      conn.guestNoRecv = true;
      conn.pending = [];
      conn.pendingBytes = 0;
      this.ready.delete(conn);
    }
    if (flags & VsockShutdown.SEND) conn.host?.endWrite();
    // Both directions shut: the connection is over, and the closing side waits for our RST.
    if ((flags & (VsockShutdown.RCV | VsockShutdown.SEND)) === (VsockShutdown.RCV | VsockShutdown.SEND))
      this.reset1(conn);
  }

  /** Guest REQUEST to host port dstPort: open the host side, then RESPONSE or RST. */
  private openFromGuest(h: VsockHeader): void {
    if (this.conns.size >= MAX_CONNECTIONS) return this.answerRst(h);
    const conn = new Connection(this, h.srcPort, h.dstPort, false);
    conn.peerBufAlloc = h.bufAlloc;
    conn.peerFwdCnt = h.fwdCnt;
    this.conns.set(key(conn.guestPort, conn.hostPort), conn);
    this.backend.connect(conn.hostPort, conn, (host) => {
      if (conn.removed) return host?.close();
      if (!host) return this.reset1(conn);
      conn.host = host;
      conn.state = "open";
      this.queueControl({ op: VsockOp.RESPONSE, hostPort: conn.hostPort, guestPort: conn.guestPort, flags: 0, conn });
      this.deliver();
    });
  }

  /** A host program asked for guest port `guestPort`: REQUEST it; the guest answers RESPONSE or RST. */
  private openFromHost(guestPort: number, host: HostEnd): GuestEnd | null {
    if (!this.ctx || this.conns.size >= MAX_CONNECTIONS) return null;
    let hostPort = this.nextHostPort;
    while (this.conns.has(key(guestPort, hostPort)))
      hostPort = hostPort + 1 > 0xffffffff ? HOST_PORT_BASE : hostPort + 1;
    this.nextHostPort = hostPort + 1 > 0xffffffff ? HOST_PORT_BASE : hostPort + 1;
    const conn = new Connection(this, guestPort, hostPort, true);
    conn.host = host;
    this.conns.set(key(guestPort, hostPort), conn);
    conn.timer = setTimeout(() => this.reset1(conn), HANDSHAKE_TIMEOUT_MS).unref();
    this.queueControl({ op: VsockOp.REQUEST, hostPort, guestPort, flags: 0, conn });
    this.deliver();
    return conn;
  }

  /** Called by a connection that has bytes or a shutdown for the guest. */
  kick(conn: Connection): void {
    if (conn.removed) return;
    if (conn.pendingBytes > 0) this.ready.add(conn);
    this.maybeShutdown(conn);
    this.deliver();
  }

  hostClosed(conn: Connection): void {
    if (conn.removed) return;
    conn.host = undefined;
    if (conn.state === "connecting") return this.reset1(conn);
    // The guest gets what is pending, then SHUTDOWN; if it never reads or answers RST, RST
    // (§5.10.6.5: a clean disconnect ends with the peer's RST, or a forced one after a while).
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => this.reset1(conn), HANDSHAKE_TIMEOUT_MS).unref();
    this.kick(conn);
  }

  /** The host took bytes: tell the guest when a quarter of its window came back (or all of it). */
  creditChanged(conn: Connection, drained: boolean): void {
    if (conn.removed || conn.creditQueued) return;
    const freed = conn.forwarded() - conn.lastFwdSent;
    if (freed >= BUF_ALLOC / 4 || (drained && freed > 0 && conn.host?.queued === 0)) {
      conn.creditQueued = true;
      this.queueControl({
        op: VsockOp.CREDIT_UPDATE,
        hostPort: conn.hostPort,
        guestPort: conn.guestPort,
        flags: 0,
        conn,
      });
      this.deliver();
    }
  }

  private maybeShutdown(conn: Connection): void {
    const owed = conn.hostShut & ~conn.shutSent;
    if (owed === 0 || conn.pendingBytes > 0 || conn.state !== "open") return;
    conn.shutSent |= owed;
    this.queueControl({
      op: VsockOp.SHUTDOWN,
      hostPort: conn.hostPort,
      guestPort: conn.guestPort,
      flags: conn.shutSent,
      conn,
    });
  }

  /** End a connection with RST (the other side forgets it too). */
  private reset1(conn: Connection): void {
    if (conn.removed) return;
    this.drop(conn);
    this.queueControl({ op: VsockOp.RST, hostPort: conn.hostPort, guestPort: conn.guestPort, flags: 0 });
    this.deliver();
  }

  private answerRst(h: VsockHeader): void {
    this.queueControl({ op: VsockOp.RST, hostPort: h.dstPort, guestPort: h.srcPort, flags: 0 });
  }

  /** Forget a connection and close its host side. */
  private drop(conn: Connection): void {
    if (conn.removed) return;
    conn.removed = true;
    clearTimeout(conn.timer);
    this.conns.delete(key(conn.guestPort, conn.hostPort));
    this.ready.delete(conn);
    conn.pending = [];
    conn.pendingBytes = 0;
    const host = conn.host;
    conn.host = undefined;
    host?.close();
  }

  private queueControl(c: Control): void {
    if (this.control.length >= CONTROL_LIMIT) return;
    this.control.push(c);
  }

  /** The next connection with bytes the guest has credit for, in round-robin order. */
  private nextData(): Connection | undefined {
    for (const c of this.ready) {
      if (c.removed || c.pendingBytes === 0 || c.state !== "open") {
        this.ready.delete(c);
        continue;
      }
      if (c.credit() > 0) return c;
    }
    return undefined;
  }

  private header(
    op: number,
    hostPort: number,
    guestPort: number,
    flags: number,
    len: number,
    conn: Connection | undefined,
  ): VsockHeader {
    const fwdCnt = conn ? conn.forwarded() : 0;
    if (conn) conn.lastFwdSent = fwdCnt;
    return {
      srcCid: BigInt(VSOCK_HOST_CID),
      dstCid: BigInt(this.guestCid),
      srcPort: hostPort,
      dstPort: guestPort,
      len,
      type: VSOCK_TYPE_STREAM,
      op,
      flags,
      bufAlloc: BUF_ALLOC,
      fwdCnt,
    };
  }

  /** Fill posted rx buffers: header-only packets first, then data while the guest has credit. */
  private deliver(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(0);
    if (!ctx || !vq) return;
    let pushed = false;
    while (vq.hasAvailable()) {
      // Packets for a connection that ended meanwhile are stale (its RST is queued after them).
      while (this.control[0]?.conn?.removed) this.control.shift();
      const control = this.control[0];
      const conn = control ? undefined : this.nextData();
      if (!control && !conn) break;
      const chain = vq.pop();
      if (!chain) break;
      pushed = true;
      // Linux posts 4 KiB + header buffers; one that cannot hold a header is returned unused.
      if (chain.writableLen < VSOCK_HDR.size) {
        vq.push(chain.head, 0);
        continue;
      }
      let pkt: Uint8Array;
      if (control) {
        this.control.shift();
        pkt = new Uint8Array(VSOCK_HDR.size);
        if (control.op === VsockOp.CREDIT_UPDATE && control.conn) control.conn.creditQueued = false;
        encodeVsockHeader(
          this.header(control.op, control.hostPort, control.guestPort, control.flags, 0, control.conn),
          pkt,
        );
      } else {
        const c = conn!;
        const n = Math.min(c.pendingBytes, c.credit(), chain.writableLen - VSOCK_HDR.size, MAX_PAYLOAD);
        pkt = new Uint8Array(VSOCK_HDR.size + n);
        pkt.set(c.take(n), VSOCK_HDR.size);
        c.txCnt += n;
        encodeVsockHeader(this.header(VsockOp.RW, c.hostPort, c.guestPort, 0, n, c), pkt);
        // Round robin: a connection with more to send goes to the back.
        this.ready.delete(c);
        if (c.pendingBytes > 0) this.ready.add(c);
        if (c.paused && c.pendingBytes < HOST_PENDING_LIMIT / 2) {
          c.paused = false;
          c.host?.resume();
        }
        this.maybeShutdown(c);
      }
      vq.push(chain.head, writeSegments(ctx.memory, chain.writable, 0, pkt));
    }
    if (pushed) ctx.signalUsed(0);
  }
}

function key(guestPort: number, hostPort: number): string {
  return `${guestPort >>> 0}:${hostPort >>> 0}`;
}
