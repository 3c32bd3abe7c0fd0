/**
 * A virtual Ethernet switch shared by the VMs of one host. Each VM is its own `corral` process,
 * so the switch has no process of its own: it is a directory ($CORRAL_HOME/run/switch/NAME/) with
 * one Unix stream socket per port, named `<pid>-<nic>.sock`. A port listens on its socket, then
 * connects to every other socket it finds, so the ports form a full mesh; each port forwards as
 * a learning switch would (IEEE 802.1D §7.8): a frame to a known MAC goes to the one port that
 * MAC was last seen on, broadcast, multicast and unknown destinations go to every port.
 *
 * On a connection each side first sends a hello naming its port; when two ports connected to each
 * other at once, both keep the connection opened by the port with the smaller id. A message is a
 * 4-byte big-endian length, then (after the hello) the offload header of virtio-net
 * (net-offload.ts: OFFLOAD_WIRE, all zero for a complete frame) and the frame: TCP segments of up
 * to 64 KiB with their checksums left to do cross the switch as they left the sending guest. A
 * socket whose owner is dead (no listener, or its pid is gone) is stale and removed by the next
 * port that sees it.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { MAX_GSO_FRAME, type NetBackend } from "../devices/virtio/net.js";
import { decodeOffload, encodeOffload, OFFLOAD_WIRE, type NetOffload } from "../devices/virtio/net-offload.js";
import { ETH, isMulticastMac } from "./packet.js";
import { pidAlive } from "./leases.js";
import { NetError } from "./errors.js";

const HELLO = "corral-switch/2 ";
/** sun_path is 108 bytes including the NUL (unix(7)). */
const MAX_SOCKET_PATH = 107;
/**
 * Source MACs a port remembers. Guests choose the source MAC of every frame they send: without a
 * bound, one guest sending frames from made-up MACs would grow this table in every other VM's
 * process without end. Past it the oldest entry goes (its MAC floods again until seen anew), as a
 * hardware switch's filtering database ages entries out (IEEE 802.1D §7.9).
 */
export const MAX_LEARNED_MACS = 4096;
/** Bytes queued to one peer beyond which frames are dropped, as a full switch queue would. */
const MAX_QUEUED = 4 << 20;
/** The largest message: the offload header and a 64 KiB TCP segment with its headers. */
const MAX_MESSAGE = OFFLOAD_WIRE.size + MAX_GSO_FRAME;

interface Peer {
  id: string;
  socket: Socket;
  /** The port that opened the connection. */
  opener: string;
}

/** The pid in a port socket's name, `<pid>-<nic>.sock`. */
export function socketPid(file: string): number | undefined {
  const m = /^(\d+)-\d+\.sock$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Remove sockets of dead processes from a switch directory; the live ones' names. */
export function removeStaleSockets(dir: string): string[] {
  const live: string[] = [];
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return live;
  }
  for (const f of files) {
    if (!f.endsWith(".sock")) continue;
    const pid = socketPid(f);
    if (pid !== undefined && pidAlive(pid)) live.push(f);
    else rmSync(join(dir, f), { force: true });
  }
  return live;
}

/** Remove a switch directory when no live port is left in it (its leases go with it). */
export function removeSwitchIfUnused(dir: string): boolean {
  if (!existsSync(dir) || removeStaleSockets(dir).length > 0) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}

export class SwitchPort implements NetBackend {
  readonly stats = { txFrames: 0, rxFrames: 0, dropped: 0 };
  private cb: (frame: Uint8Array, offload?: NetOffload) => void = () => {};
  /** Every port is a Corral virtio-net device, which takes offloaded frames or finishes them. */
  readonly offloads = true;
  private readonly peers = new Map<string, Peer>();
  private readonly macs = new Map<string, Peer>();
  private readonly pending = new Set<Socket>();
  private closed = false;
  private readonly onExit = (): void => this.unlink();

  private constructor(
    readonly dir: string,
    readonly id: string,
    readonly path: string,
    private readonly server: Server,
  ) {
    process.once("exit", this.onExit);
  }

  /** Join the switch in `dir` as port `nic` of this process. */
  static async open(dir: string, nic: number): Promise<SwitchPort> {
    const id = `${process.pid}-${nic}`;
    const path = join(dir, `${id}.sock`);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new NetError(
        "NET_PATH_TOO_LONG",
        `the switch socket path ${path} is longer than Unix sockets allow: use a shorter switch name or CORRAL_HOME`,
        { exitCode: 2 },
      );
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new NetError("NET_SWITCH", `cannot create the switch directory ${dir}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const others = removeStaleSockets(dir).filter((f) => f !== `${id}.sock`);
    rmSync(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) =>
        reject(new NetError("NET_SWITCH", `cannot listen on the switch socket ${path}: ${e.message}`, { cause: e })),
      );
      server.listen(path, resolve);
    });
    const port = new SwitchPort(dir, id, path, server);
    server.on("connection", (s) => port.adopt(s, null));
    server.on("error", () => {});
    // Listen first, then look: a port started at the same moment finds this one either way.
    for (const f of readdirSync(dir))
      if (f.endsWith(".sock") && f !== `${id}.sock` && !others.includes(f)) others.push(f);
    await Promise.all(others.map((f) => port.connect(f)));
    return port;
  }

  onReceive(cb: (frame: Uint8Array, offload?: NetOffload) => void): void {
    this.cb = cb;
  }

  /** Ports this one is connected to. */
  get peerIds(): string[] {
    return [...this.peers.keys()].sort();
  }

  send(frame: Uint8Array, offload?: NetOffload): void {
    if (this.closed || frame.length < ETH.size) return;
    this.stats.txFrames++;
    const msg = Buffer.allocUnsafe(4 + OFFLOAD_WIRE.size + frame.length);
    msg.writeUInt32BE(OFFLOAD_WIRE.size + frame.length, 0);
    encodeOffload(offload, msg, 4);
    msg.set(frame, 4 + OFFLOAD_WIRE.size);
    const known = isMulticastMac(frame, ETH.dst) ? undefined : this.macs.get(macKey(frame, ETH.dst));
    if (known) this.write(known, msg);
    else for (const p of this.peers.values()) this.write(p, msg);
  }

  private write(p: Peer, msg: Buffer): void {
    if (p.socket.writableLength > MAX_QUEUED) {
      this.stats.dropped++;
      return;
    }
    // Frames the guest queues in one burst leave in one writev: cork until the burst ends.
    if (p.socket.writableCorked === 0) {
      p.socket.cork();
      process.nextTick(() => p.socket.uncork());
    }
    p.socket.write(msg);
  }

  private connect(file: string): Promise<void> {
    return new Promise((resolve) => {
      const s = createConnection(join(this.dir, file));
      s.once("connect", () => {
        this.adopt(s, this.id);
        resolve();
      });
      s.once("error", (e: NodeJS.ErrnoException) => {
        // Nobody listens there: the socket of a port that died without cleaning up.
        if (e.code === "ECONNREFUSED" || e.code === "ENOENT") rmSync(join(this.dir, file), { force: true });
        resolve();
      });
    });
  }

  /** Take a new connection: hello both ways, then frames. `opener` is this port's id for outgoing ones. */
  private adopt(s: Socket, opener: string | null): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    s.removeAllListeners("error");
    s.on("error", () => {});
    s.setNoDelay?.(true);
    this.pending.add(s);
    const hello = Buffer.from(HELLO + this.id);
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(hello.length, 0);
    s.write(Buffer.concat([h, hello]));
    let peer: Peer | undefined;
    let buf: Buffer = Buffer.alloc(0);
    s.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        // A peer is another Corral process, but a confused one must not make this one buffer without end.
        if (len > MAX_MESSAGE) {
          s.destroy();
          return;
        }
        if (buf.length - off - 4 < len) break;
        const body = buf.subarray(off + 4, off + 4 + len);
        off += 4 + len;
        if (peer) this.deliver(peer, body);
        else {
          peer = this.hello(s, body, opener);
          if (!peer) return;
        }
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    });
    s.on("close", () => {
      this.pending.delete(s);
      if (peer && this.peers.get(peer.id) === peer) this.forget(peer);
    });
  }

  private hello(s: Socket, body: Buffer, opener: string | null): Peer | undefined {
    const text = body.toString("latin1");
    this.pending.delete(s);
    if (!text.startsWith(HELLO)) {
      s.destroy();
      return undefined;
    }
    const id = text.slice(HELLO.length);
    const peer: Peer = { id, socket: s, opener: opener ?? id };
    const old = this.peers.get(id);
    if (old) {
      // Both ports connected to each other: keep the connection the smaller id opened (both sides agree).
      const keep = id < this.id ? id : this.id;
      if (old.opener === keep) {
        s.destroy();
        return undefined;
      }
      this.forget(old);
      old.socket.destroy();
    }
    this.peers.set(id, peer);
    return peer;
  }

  private deliver(peer: Peer, body: Buffer): void {
    if (body.length < OFFLOAD_WIRE.size + ETH.size || this.peers.get(peer.id) !== peer) return;
    const frame = new Uint8Array(body.buffer, body.byteOffset + OFFLOAD_WIRE.size, body.length - OFFLOAD_WIRE.size);
    if (!isMulticastMac(frame, ETH.src)) this.learn(macKey(frame, ETH.src), peer);
    this.stats.rxFrames++;
    this.cb(frame, decodeOffload(body, 0));
  }

  /** Remember where `mac` was seen last; the most recently seen are kept (Map keeps insertion order). */
  private learn(mac: string, peer: Peer): void {
    this.macs.delete(mac);
    if (this.macs.size >= MAX_LEARNED_MACS) this.macs.delete(this.macs.keys().next().value!);
    this.macs.set(mac, peer);
  }

  /** How many MACs this port has learned. */
  get learnedMacs(): number {
    return this.macs.size;
  }

  private forget(peer: Peer): void {
    this.peers.delete(peer.id);
    for (const [mac, p] of this.macs) if (p === peer) this.macs.delete(mac);
  }

  private unlink(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  /** Leave the switch: the socket file goes, and the directory too when this was the last port. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.off("exit", this.onExit);
    this.server.close();
    this.unlink();
    for (const p of this.peers.values()) p.socket.destroy();
    for (const s of this.pending) s.destroy();
    this.peers.clear();
    this.macs.clear();
    removeSwitchIfUnused(this.dir);
  }
}

function macKey(frame: Uint8Array, off: number): string {
  return Buffer.from(frame.buffer, frame.byteOffset + off, 6).toString("hex");
}
