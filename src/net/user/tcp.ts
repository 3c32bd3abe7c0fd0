/**
 * One TCP connection of user-mode networking: the guest's TCP on one side, a host socket
 * (node:net) on the other. Towards the guest this is a small TCP of its own (RFC 9293):
 * sequence numbers, the guest's window (scaled, RFC 7323), FIN both ways with half-close, RST.
 * The link to the guest is a virtqueue, lossless unless the guest's receive ring overflows, so
 * retransmission is go-back-N from the oldest unacknowledged byte after RTO_MS without progress.
 *
 * Flow control both ways keeps every buffer bounded: the window advertised to the guest is what
 * the host socket's write buffer still has room for (a slow host reader closes it), and a host
 * socket that sends faster than the guest acknowledges is paused (socket.pause()) once
 * SEND_BUFFER bytes wait for the guest.
 */
import type { Socket } from "node:net";
import type { NetOffload } from "../../devices/virtio/net-offload.js";
import { TcpFlag } from "../packet.js";
import { buildTcp, type Ends, type TcpSegment } from "./frames.js";

/** Bytes from the host waiting for the guest (unacknowledged or unsent) before the host socket is paused. */
export const SEND_BUFFER = 512 * 1024;
/** Bytes from the guest waiting in the host socket before the advertised window closes. */
export const RECEIVE_BUFFER = 512 * 1024;
/** Our window scale (RFC 7323 §2.3): 2^4 lets a 16-bit field say up to 1 MiB. */
const OUR_WSCALE = 4;
/** Our MSS: a 1500-byte MTU less 40 bytes of headers. */
export const OUR_MSS = 1460;
/** At most this much sent and not yet acknowledged: keeps the guest's receive ring (256 frames) from overflowing. */
const MAX_IN_FLIGHT = 256 * 1024;
/** Largest segment handed to the guest at once (a GSO frame; IPv4's total length is 16 bits). */
const MAX_SEGMENT = 63 * 1024;
/** Retransmission after this long without an acknowledgement that moves. */
export const RTO_MS = 1000;
/** Retransmissions without progress before the connection is given up (a guest that stopped answering). */
const MAX_RETRIES = 8;

export type TcpState =
  /** Guest SYN seen; the host socket is connecting. */
  | "connecting"
  /** We sent SYN to the guest (a port forward); waiting for its SYN-ACK. */
  | "syn-sent"
  /** We sent SYN-ACK; waiting for the guest's ACK. */
  | "syn-received"
  | "established"
  | "closed";

/** What a connection needs from the backend that owns it. */
export interface TcpOwner {
  readonly ends: Ends;
  /** Queue a frame for the guest. */
  emit(frame: Uint8Array, offload?: NetOffload): void;
  /** The connection is over; forget it. */
  forget(c: TcpConn): void;
}

export interface TcpAddr {
  guestIp: number;
  guestPort: number;
  /** The far end as the guest sees it. */
  peerIp: number;
  peerPort: number;
}

/** a - b as a signed 32-bit distance (RFC 9293 §3.4: comparisons are modulo 2^32). */
function diff(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpConn {
  state: TcpState;
  /** Last time anything moved (eviction picks the least recently active). */
  lastActive = Date.now();
  private socket: Socket | undefined;

  // Towards the guest (RFC 9293 §3.3.1 send sequence variables).
  private readonly iss = (Math.random() * 0x100000000) >>> 0;
  private sndUna: number;
  private sndNxt: number;
  private sndWnd = 0;
  private sndShift = 0;
  private guestMss = 536;
  /** Bytes from the host starting at sndUna: a list of chunks, the first one starting `headOff` in. */
  private chunks: Buffer[] = [];
  private headOff = 0;
  private queued = 0;
  private paused = false;
  private progressAt = Date.now();
  private retries = 0;

  // From the guest (receive sequence variables).
  private rcvNxt = 0;
  private rcvShift = 0;

  /** The host has no more to send: a FIN goes once the queue is sent. */
  private hostEnded = false;
  private finSent = false;
  private finAcked = false;
  /** The guest sent its FIN. */
  private guestFin = false;

  constructor(
    private readonly owner: TcpOwner,
    readonly addr: TcpAddr,
    state: "connecting" | "syn-sent",
  ) {
    this.state = state;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
  }

  /** A guest's SYN opened this connection: remember its sequence and options; the socket connects. */
  acceptSyn(seg: TcpSegment, socket: Socket): void {
    this.rcvNxt = (seg.seq + 1) >>> 0;
    this.takeSynOptions(seg);
    this.attach(socket);
    socket.once("connect", () => {
      if (this.state !== "connecting") return;
      this.state = "syn-received";
      this.sendSyn(TcpFlag.SYN | TcpFlag.ACK);
    });
  }

  /** A port forward: the host socket is connected; say SYN to the guest. */
  openToGuest(socket: Socket): void {
    this.attach(socket);
    socket.pause();
    this.paused = true;
    this.sendSyn(TcpFlag.SYN);
  }

  private takeSynOptions(seg: TcpSegment): void {
    this.guestMss = Math.max(64, Math.min(seg.mss ?? 536, OUR_MSS));
    // RFC 7323 §2.2: scaling applies only when both SYNs carry the option.
    if (seg.wscale !== undefined) {
      this.sndShift = seg.wscale;
      this.rcvShift = OUR_WSCALE;
    }
    this.sndWnd = seg.window;
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (b: Buffer) => this.fromHost(b));
    socket.on("end", () => {
      this.hostEnded = true;
      this.pump();
    });
    socket.on("drain", () => this.sendAck());
    socket.on("error", () => this.abort(true));
    socket.on("close", (hadError: boolean) => {
      if (this.state === "closed") return;
      // Closed after its end: what it sent is queued for the guest, and the FIN follows it.
      if (hadError || !this.hostEnded || this.state !== "established") this.abort(true);
      else this.socket = undefined;
    });
  }

  private sendSyn(flags: number): void {
    this.sndNxt = (this.iss + 1) >>> 0;
    this.progressAt = Date.now();
    this.emit(flags, this.iss, 0, {
      mss: OUR_MSS,
      wscale: flags & TcpFlag.ACK && this.rcvShift === 0 ? undefined : OUR_WSCALE,
    });
  }

  /** The window we advertise: what the host socket's buffer still takes. */
  private window(): number {
    const room = Math.max(0, RECEIVE_BUFFER - (this.socket?.writableLength ?? 0));
    return Math.min(0xffff, room >>> this.rcvShift);
  }

  private emit(flags: number, seq: number, len: number, syn?: { mss: number; wscale: number | undefined }): void {
    const a = this.addr;
    const { frame, offload } = buildTcp(this.owner.ends, {
      src: a.peerIp,
      dst: a.guestIp,
      srcPort: a.peerPort,
      dstPort: a.guestPort,
      seq,
      ack: flags & TcpFlag.ACK ? this.rcvNxt : 0,
      flags,
      window: syn ? Math.min(0xffff, RECEIVE_BUFFER) : this.window(),
      ...(syn ? { synOptions: syn } : {}),
      ...(len > 0
        ? { payloadLen: len, fill: (d, at) => this.copyOut(diff(seq, this.sndUna), len, d, at), gsoSize: this.guestMss }
        : {}),
    });
    this.owner.emit(frame, offload);
  }

  /** Copy `len` queued bytes starting `from` bytes after sndUna into dst at `at`. */
  private copyOut(from: number, len: number, dst: Uint8Array, at: number): void {
    let skip = from + this.headOff;
    for (const c of this.chunks) {
      if (len === 0) return;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const n = Math.min(len, c.length - skip);
      dst.set(c.subarray(skip, skip + n), at);
      at += n;
      len -= n;
      skip = 0;
    }
  }

  private sendAck(): void {
    if (this.state === "established" || this.state === "syn-received") this.emit(TcpFlag.ACK, this.sndNxt, 0);
  }

  private fromHost(b: Buffer): void {
    this.lastActive = Date.now();
    this.chunks.push(b);
    this.queued += b.length;
    if (this.queued >= SEND_BUFFER && !this.paused) {
      this.socket?.pause();
      this.paused = true;
    }
    this.pump();
  }

  /** Send what the guest's window and the in-flight bound allow; then the FIN when the host is done. */
  private pump(): void {
    if (this.state !== "established") return;
    const window = Math.min(this.sndWnd, MAX_IN_FLIGHT);
    for (;;) {
      const inFlight = diff(this.sndNxt, this.sndUna);
      const unsent = this.queued - inFlight;
      const room = window - inFlight;
      if (unsent <= 0 || room <= 0) break;
      let n = Math.min(unsent, room, MAX_SEGMENT);
      // Whole MSS-sized pieces unless this is the end of what is queued (no silly windows, RFC 9293 §3.8.6.2.1).
      if (n < unsent && n > this.guestMss) n -= n % this.guestMss;
      const flags = TcpFlag.ACK | (n === unsent ? TcpFlag.PSH : 0);
      if (inFlight === 0) this.progressAt = Date.now();
      this.emit(flags, this.sndNxt, n);
      this.sndNxt = (this.sndNxt + n) >>> 0;
    }
    if (this.hostEnded && !this.finSent && diff(this.sndNxt, this.sndUna) === this.queued) {
      this.finSent = true;
      this.emit(TcpFlag.FIN | TcpFlag.ACK, this.sndNxt, 0);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
    }
  }

  /** A segment from the guest for this connection. */
  segment(seg: TcpSegment): void {
    this.lastActive = Date.now();
    if (seg.flags & TcpFlag.RST) {
      // RFC 5961 §3.2: only a reset inside the window counts (a guest cannot guess, but be exact).
      if (this.state === "syn-sent" || diff(seg.seq, this.rcvNxt) >= 0) this.abort(false);
      return;
    }
    switch (this.state) {
      case "closed":
        return;
      case "connecting":
        return; // a retransmitted SYN while the host connects: the SYN-ACK follows the connect
      case "syn-sent":
        if (seg.flags & TcpFlag.SYN && seg.flags & TcpFlag.ACK && seg.ack === (this.iss + 1) >>> 0) {
          this.rcvNxt = (seg.seq + 1) >>> 0;
          this.takeSynOptions(seg);
          if (seg.wscale === undefined) this.rcvShift = 0;
          this.sndUna = seg.ack;
          this.state = "established";
          this.emit(TcpFlag.ACK, this.sndNxt, 0);
          this.resume();
          this.pump();
        } else if (seg.flags & TcpFlag.ACK) this.reset(seg);
        return;
      case "syn-received":
        if (seg.flags & TcpFlag.SYN) {
          if (!(seg.flags & TcpFlag.ACK)) this.sendSyn(TcpFlag.SYN | TcpFlag.ACK); // its SYN again: our SYN-ACK was lost
          return;
        }
        if (!(seg.flags & TcpFlag.ACK)) return;
        if (seg.ack !== this.sndNxt) {
          this.reset(seg);
          return;
        }
        this.sndUna = seg.ack;
        this.state = "established";
        break;
      case "established":
        if (seg.flags & TcpFlag.SYN) {
          this.sendAck(); // RFC 5961 §4: a SYN in a synchronized state gets a challenge ACK
          return;
        }
        break;
    }
    if (!(seg.flags & TcpFlag.ACK)) return;
    this.acked(seg);
    this.received(seg);
    this.pump();
    this.maybeDone();
  }

  /** The guest acknowledged up to seg.ack and opened its window. */
  private acked(seg: TcpSegment): void {
    const n = diff(seg.ack, this.sndUna);
    if (n > 0 && diff(seg.ack, this.sndNxt) <= 0) {
      let data = n;
      if (this.finSent && seg.ack === this.sndNxt) {
        this.finAcked = true;
        data = n - 1;
      }
      this.dropAcked(data);
      this.sndUna = seg.ack;
      this.progressAt = Date.now();
      this.retries = 0;
    }
    this.sndWnd = seg.window << this.sndShift;
  }

  private dropAcked(n: number): void {
    this.queued -= n;
    let left = n + this.headOff;
    while (this.chunks.length > 0 && left >= this.chunks[0]!.length) left -= this.chunks.shift()!.length;
    this.headOff = left;
    if (this.paused && this.state === "established" && this.queued < SEND_BUFFER / 2) this.resume();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
  }

  /** Data and FIN from the guest: in order only; anything else is answered with our ACK. */
  private received(seg: TcpSegment): void {
    let data = seg.payload;
    let seq = seg.seq;
    const fin = (seg.flags & TcpFlag.FIN) !== 0;
    if (data.length === 0 && !fin) return;
    const old = diff(this.rcvNxt, seq);
    if (old > 0) {
      // Partly or wholly a retransmission: keep what is new.
      if (old >= data.length + (fin ? 1 : 0)) return this.sendAck();
      data = data.subarray(Math.min(old, data.length));
      seq = this.rcvNxt;
    }
    if (seq !== this.rcvNxt || this.guestFin) return this.sendAck();
    if (!this.socket && data.length > 0) return this.abort(true);
    // The advertised window bounds a well-behaved guest; this bounds one that ignores it.
    const room = Math.max(0, 2 * RECEIVE_BUFFER - (this.socket?.writableLength ?? 0));
    const take = Math.min(data.length, room);
    if (take > 0) {
      this.socket?.write(data.subarray(0, take));
      this.rcvNxt = (this.rcvNxt + take) >>> 0;
    }
    if (fin && take === data.length) {
      this.guestFin = true;
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      this.socket?.end();
    }
    this.sendAck();
  }

  /** Both sides have sent FIN and ours is acknowledged: the connection is over. */
  private maybeDone(): void {
    if (this.guestFin && this.finAcked) {
      this.state = "closed";
      // end() already flushes what was written; the socket closes by itself.
      this.owner.forget(this);
    }
  }

  /** RFC 9293 §3.10.7.3: an unacceptable ACK in a non-synchronized state gets a RST. */
  private reset(seg: TcpSegment): void {
    const { frame } = buildTcp(this.owner.ends, {
      src: this.addr.peerIp,
      dst: this.addr.guestIp,
      srcPort: this.addr.peerPort,
      dstPort: this.addr.guestPort,
      seq: seg.ack,
      ack: 0,
      flags: TcpFlag.RST,
      window: 0,
    });
    this.owner.emit(frame);
  }

  /** Retransmit from the oldest unacknowledged byte when nothing moved for RTO_MS (called by the owner's timer). */
  tick(now: number): void {
    if (this.state === "closed" || diff(this.sndNxt, this.sndUna) === 0 || now - this.progressAt < RTO_MS) return;
    this.progressAt = now;
    if (++this.retries > MAX_RETRIES) return this.abort(true);
    if (this.state === "syn-sent") return this.sendSyn(TcpFlag.SYN);
    if (this.state === "syn-received") return this.sendSyn(TcpFlag.SYN | TcpFlag.ACK);
    if (this.state !== "established") return;
    // Go back to the oldest unacknowledged byte; pump() sends the data and the FIN again.
    this.sndNxt = this.sndUna;
    this.finSent = false;
    this.pump();
  }

  /**
   * End the connection now: the host socket is reset and closed, and unless the guest itself reset
   * it, the guest gets a RST (a host refusal, an error, eviction, or the VM stopping).
   */
  abort(tellGuest: boolean): void {
    if (this.state === "closed") return;
    const wasConnecting = this.state === "connecting";
    this.state = "closed";
    if (tellGuest) {
      const { frame } = buildTcp(this.owner.ends, {
        src: this.addr.peerIp,
        dst: this.addr.guestIp,
        srcPort: this.addr.peerPort,
        dstPort: this.addr.guestPort,
        seq: wasConnecting ? 0 : this.sndNxt,
        ack: this.rcvNxt,
        flags: TcpFlag.RST | TcpFlag.ACK,
        window: 0,
      });
      this.owner.emit(frame);
    }
    const s = this.socket;
    this.socket = undefined;
    this.chunks = [];
    this.queued = 0;
    if (s && !s.destroyed) {
      if (s.connecting || s.readyState === "closed") s.destroy();
      else s.resetAndDestroy();
    }
    this.owner.forget(this);
  }
}
