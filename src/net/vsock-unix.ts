/**
 * The host side of virtio-vsock as Unix sockets, in Firecracker's convention (its docs/vsock.md):
 * - host to guest: a host program connects to the VM's socket PATH and writes "CONNECT <port>\n";
 *   once the guest's listener on <port> accepts, it reads "OK <hostport>\n" and the stream is
 *   connected (if the guest refuses, the socket is closed);
 * - guest to host: a guest connection to CID 2 port P is connected to the Unix socket "PATH_P",
 *   where a host program listens. P is a u32 from the guest, formatted here as a decimal number,
 *   so the guest picks which of PATH's siblings it reaches, never another path.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { lstatSync, rmSync } from "node:fs";
import type { GuestEnd, HostEnd, VsockBackend } from "../devices/virtio/vsock.js";
import { NetError } from "./errors.js";

/** sun_path holds 108 bytes with the terminating NUL (unix(7)); PATH_<u32> must fit too. */
const MAX_SOCKET_PATH = 107;
const PORT_SUFFIX = "_4294967295".length;
/** The CONNECT line is short; a host program that sends more, or nothing, is disconnected. */
const MAX_CONNECT_LINE = 32;
const CONNECT_LINE_TIMEOUT_MS = 10_000;
/** Host programs that connected but have not finished their CONNECT line. */
const MAX_UNANNOUNCED = 64;

/** "CONNECT <port>\n" with a decimal u32 port, else undefined. */
export function parseConnectLine(line: string): number | undefined {
  const m = /^CONNECT (\d{1,10})$/.exec(line);
  if (!m) return undefined;
  const port = Number(m[1]);
  return port <= 0xffffffff ? port : undefined;
}

/** The Unix socket a guest connection to host port `port` reaches: `<path>_<port>`. */
export function hostPortPath(path: string, port: number): string {
  return `${path}_${port >>> 0}`;
}

/** One connection's Unix socket as the device sees it. */
class SocketEnd implements HostEnd {
  constructor(private readonly socket: Socket) {}
  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }
  get queued(): number {
    return this.socket.destroyed ? 0 : this.socket.writableLength;
  }
  endWrite(): void {
    if (!this.socket.destroyed) this.socket.end();
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  established(hostPort: number): void {
    if (this.socket.destroyed) return;
    this.socket.write(`OK ${hostPort}\n`);
    this.socket.resume();
  }
  close(): void {
    this.socket.destroy();
  }
}

/** Forward a socket's events to the guest end of its connection. */
function pipeEvents(socket: Socket, guest: GuestEnd): void {
  socket.on("data", (b: Buffer) => guest.data(new Uint8Array(b.buffer, b.byteOffset, b.length)));
  socket.on("end", () => guest.end());
  socket.on("close", () => guest.closed());
  socket.on("drain", () => guest.drained());
  socket.on("error", () => {}); // 'close' follows
}

export class UnixVsockBackend implements VsockBackend {
  private readonly sockets = new Set<Socket>();
  private unannounced = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listen on `path` (which must not exist, unless it is a stale socket nobody listens on). */
  static async open(path: string): Promise<UnixVsockBackend> {
    if (Buffer.byteLength(path) + PORT_SUFFIX > MAX_SOCKET_PATH) {
      throw new NetError(
        "VSOCK_PATH_TOO_LONG",
        `--vsock path ${path} is too long for a Unix socket (with _PORT added): use a shorter path`,
        { exitCode: 2 },
      );
    }
    await removeStale(path);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) =>
        reject(
          new NetError("VSOCK_LISTEN", `cannot listen on the vsock socket ${path}: ${e.message}`, {
            cause: e,
            exitCode: 2,
          }),
        ),
      );
      server.listen(path, resolve);
    });
    server.on("error", () => {});
    return new UnixVsockBackend(path, server);
  }

  start(open: (guestPort: number, host: HostEnd) => GuestEnd | null): void {
    this.server.on("connection", (s: Socket) => {
      if (this.closed || this.unannounced >= MAX_UNANNOUNCED) return void s.destroy();
      this.track(s);
      this.unannounced++;
      let line = "";
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.unannounced--;
        clearTimeout(timer);
        s.removeListener("data", onData);
        s.pause();
      };
      const timer = setTimeout(() => {
        finish();
        s.destroy();
      }, CONNECT_LINE_TIMEOUT_MS).unref();
      const onData = (b: Buffer): void => {
        const nl = b.indexOf(0x0a);
        line += b.subarray(0, nl < 0 ? b.length : nl).toString("latin1");
        if (nl < 0 && line.length <= MAX_CONNECT_LINE) return;
        finish();
        const port = nl < 0 ? undefined : parseConnectLine(line);
        const end = new SocketEnd(s);
        const guest = port === undefined ? null : open(port, end);
        if (!guest) return void s.destroy();
        // Bytes after the line are the first of the stream; the rest flows once the guest accepts.
        const rest = b.subarray(nl + 1);
        pipeEvents(s, guest);
        if (rest.length > 0) guest.data(new Uint8Array(rest));
      };
      s.on("data", onData);
      s.on("close", finish);
      s.on("error", () => {});
      s.resume();
    });
  }

  connect(port: number, guest: GuestEnd, done: (host: HostEnd | null) => void): void {
    if (this.closed) return done(null);
    const s = createConnection({ path: hostPortPath(this.path, port), allowHalfOpen: true });
    this.track(s);
    const onError = (): void => {
      s.destroy();
      done(null);
    };
    s.once("error", onError);
    s.once("connect", () => {
      s.removeListener("error", onError);
      pipeEvents(s, guest);
      done(new SocketEnd(s));
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
  }

  /** Host sockets still open (for tests). */
  get openSockets(): number {
    return this.sockets.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const s of this.sockets) s.destroy();
    rmSync(this.path, { force: true });
  }
}

/** A socket left by a VM that died is removed; anything else at `path` is the user's. */
async function removeStale(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket)
    throw new NetError("VSOCK_PATH_EXISTS", `--vsock path ${path} exists and is not a socket: choose another path`, {
      exitCode: 2,
    });
  const live = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live)
    throw new NetError(
      "VSOCK_PATH_IN_USE",
      `--vsock path ${path} is in use by a running program (another VM?): choose another path`,
      { exitCode: 2 },
    );
  rmSync(path, { force: true });
}
