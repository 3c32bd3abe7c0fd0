/**
 * The wire format between `corral-oci` (native/corral-oci.c, the client an engine runs) and the
 * resident server (server.ts), over a Unix stream socket in the runtime's --root directory.
 *
 * Every message is a frame: a 1-byte type, a 4-byte little-endian payload length, the payload.
 * The C client declares the same layout and types (native/corral-oci.c, "Frames").
 */
export const FRAME = { typeOffset: 0, lengthOffset: 1, headerSize: 5, maxPayload: 16 << 20 } as const;

/** Client to server. */
export const TO_SERVER = {
  /** argv after the program name, each argument followed by a NUL. */
  ARGS: "A",
  /** The caller's working directory. */
  CWD: "C",
  /** "NAME=VALUE\0" for each variable the server compares with its own (see CALLER_CONTEXT). */
  ENV: "E",
  /** The request is complete: run it. */
  GO: "G",
  /** One line the helper wrote on its status channel (fd 3), without the newline. */
  STATUS: "S",
  /** The helper's status channel closed. */
  STATUS_CLOSED: "Z",
  /** The helper ended: payload is its exit status (u32 LE; 128+N for signal N). */
  HELPER_EXIT: "H",
  /** The helper could not be started: payload is the reason. */
  HELPER_FAILED: "Y",
  /** The client got SIGINT/SIGTERM/SIGHUP: payload is the signal number (u32 LE). */
  SIGNAL: "K",
} as const;

/** Server to client. */
export const TO_CLIENT = {
  /** Bytes for the caller's stdout. */
  STDOUT: "O",
  /** Bytes for the caller's stderr. */
  STDERR: "R",
  /** Run corral-init with this plan as argv[1], as a child of the client, and relay its status. */
  PLAN: "P",
  /** The call is over: exit with this status (u32 LE). */
  EXIT: "X",
  /** The server cannot serve this caller (another namespace or environment): run Node yourself. */
  FALLBACK: "F",
} as const;

/**
 * What makes a caller's context the server's: the namespaces it sees PIDs, mounts and users in,
 * and PATH (the runtime looks up newuidmap, newgidmap and ps on it). A caller that differs is
 * told to fall back to running Node itself.
 */
export const CALLER_CONTEXT = ["PATH", "NS_USER", "NS_MNT", "NS_PID"] as const;

export interface Frame {
  type: string;
  payload: Buffer;
}

export function encodeFrame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(FRAME.headerSize);
  head.write(type, FRAME.typeOffset, 1, "latin1");
  head.writeUInt32LE(body.length, FRAME.lengthOffset);
  return Buffer.concat([head, body]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Splits a byte stream into frames; a frame larger than maxPayload is a protocol error. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= FRAME.headerSize) {
      const len = this.buf.readUInt32LE(FRAME.lengthOffset);
      if (len > FRAME.maxPayload) throw new Error(`frame of ${len} bytes exceeds ${FRAME.maxPayload}`);
      if (this.buf.length < FRAME.headerSize + len) break;
      out.push({
        type: this.buf.toString("latin1", FRAME.typeOffset, FRAME.typeOffset + 1),
        payload: this.buf.subarray(FRAME.headerSize, FRAME.headerSize + len),
      });
      this.buf = this.buf.subarray(FRAME.headerSize + len);
    }
    return out;
  }
}

/** "a\0b\0" -> ["a", "b"]. */
export function nulList(payload: Buffer): string[] {
  const s = payload.toString("utf8");
  const parts = s.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** Names of the socket and of the lock the client holds while it starts a server, in --root. */
export const SOCKET_NAME = ".corral-oci.sock";
export const LOCK_NAME = ".corral-oci.lock";
