/**
 * The guest agent protocol: text lines over the virtio-console port AGENT_PORT_NAME, fields
 * separated by one space, binary data base64-encoded (so a line never holds a space or newline
 * of user data). The guest side is the compiled agent native/corral-agent.c (src/image/agent.ts).
 *
 * Host to guest:
 *   X <id> <stdin> <rows> <cols> <envc> <argc> <request>
 *                             start exec <id> at once. <request> is the base64 of NUL-terminated
 *                             strings: the working directory (empty: the agent's, /), <envc>
 *                             environment entries NAME=VALUE (added to the agent's environment,
 *                             replacing its entries of the same name), and the <argc> >= 1
 *                             arguments, argv[0] looked up in the PATH the command gets. The
 *                             command runs in a new session. <stdin> 1: stdin is streamed as I
 *                             frames and ended by E, 0: stdin is /dev/null. <rows> <cols> not 0:
 *                             the command runs on a new pseudo-terminal of that size (stdin,
 *                             stdout and stderr are the terminal; its output comes as fd 1).
 *                             A line is at most AGENT_MAX_LINE bytes.
 *   I <id> <n>                a chunk of stdin: the line is followed by <n> raw bytes (at most
 *                             STDIN_CHUNK); the host sends at most STDIN_WINDOW chunks not yet
 *                             credited (C)
 *   E <id>                    end of stdin: the command reads end of file (not with a terminal,
 *                             where Ctrl-D is typed instead)
 *   W <id> <rows> <cols>      the pseudo-terminal's new size (the kernel sends SIGWINCH)
 *   K <id>                    kill exec <id>'s process group (SIGKILL)
 *   P <id>                    ping
 *   T <id> <sec> <nsec> <hostname>
 *                             (version 5) set the guest's wall clock (CLOCK_REALTIME) to <sec>.<nsec>
 *                             since the epoch and, unless <hostname> is "-", its hostname to the
 *                             base64-decoded <hostname> (1 to HOSTNAME_MAX bytes): after a
 *                             restore or in a fork's clone, by the agent itself, no guest
 *                             process started
 *   S                         sync and power off
 * Guest to host:
 *   H <version>               the agent is up and speaks AGENT_VERSION <version>
 *   A <id>                    exec <id> was received
 *   C <id>                    exec <id> passed one stdin chunk on (a credit for one more I line)
 *   O <id> <fd> <data>        output of exec <id> on fd 1 or 2 (base64, at most OUTPUT_CHUNK bytes)
 *   R <id> <status>           exec <id> ended with <status> (128+N: killed by signal N; 127: not
 *                             found, 126: could not be run, with one line on its stderr saying why)
 *   P <id>                    answer to a ping
 *   T <id> <errno>            a T frame was carried out (0) or failed with that errno (the clock
 *                             is set first; a failed hostname leaves the clock set)
 */
import { VmError } from "../errors.js";
import type { TtySize } from "../tty.js";

export const AGENT_PORT_NAME = "org.corral.agent";
/**
 * 2: stdin streamed with credits (C), pseudo-terminals (X sizes, W). 3: X scripts in printf %b
 * escapes. 4: the compiled agent: X carries argv, environment and directory (no shell); a
 * terminal's output is raw bytes (no telnet encoding).
 */
export const AGENT_VERSION = 5;
/**
 * 5: the T frame (clock and hostname set by the agent). X frames are the same in 4 and 5, so the
 * host still runs commands through an agent of version 4 (a snapshot of a VM booted by an older
 * corral) and sets its clock with a command instead (src/vm/daemon.ts).
 */
export const MIN_AGENT_VERSION = 4;
/** The first version with the T frame. */
export const IDENTITY_VERSION = 5;
/** The longest hostname Linux takes (HOST_NAME_MAX, __NEW_UTS_LEN). */
export const HOSTNAME_MAX = 64;
/** Bytes of output per O line: 4 KiB of base64, far below the 32 KiB Linux sends per write. */
export const OUTPUT_CHUNK = 3072;
/**
 * Bytes of stdin per I frame, and how many may be in flight: what the agent holds for an exec
 * whose command does not read (it never blocks on one) is bounded by the two.
 */
export const STDIN_CHUNK = 16 * 1024;
export const STDIN_WINDOW = 3;
/** The longest line the agent reads (an X frame: argv and environment); longer ones are dropped. */
export const AGENT_MAX_LINE = 256 * 1024;

export type AgentMessage =
  | { kind: "hello"; version: number }
  | { kind: "ack"; id: number }
  | { kind: "credit"; id: number }
  | { kind: "output"; id: number; fd: 1 | 2; data: Buffer }
  | { kind: "exit"; id: number; status: number }
  | { kind: "pong"; id: number }
  | { kind: "identity"; id: number; errno: number };

/** Parse one guest line; undefined for anything malformed (boot noise, a truncated line). */
export function parseAgentLine(line: string): AgentMessage | undefined {
  const f = line.trim().split(" ");
  const num = (s: string | undefined): number | undefined =>
    s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
  const id = num(f[1]);
  switch (f[0]) {
    case "H":
      return id === undefined ? undefined : { kind: "hello", version: id };
    case "A":
      return id === undefined ? undefined : { kind: "ack", id };
    case "C":
      return id === undefined ? undefined : { kind: "credit", id };
    case "P":
      return id === undefined ? undefined : { kind: "pong", id };
    case "T": {
      const errno = num(f[2]);
      return id === undefined || errno === undefined ? undefined : { kind: "identity", id, errno };
    }
    case "R": {
      const status = num(f[2]);
      return id === undefined || status === undefined ? undefined : { kind: "exit", id, status };
    }
    case "O": {
      const fd = num(f[2]);
      if (id === undefined || (fd !== 1 && fd !== 2)) return undefined;
      return { kind: "output", id, fd, data: Buffer.from(f[3] ?? "", "base64") };
    }
    default:
      return undefined;
  }
}

export interface ExecCommand {
  argv: readonly string[];
  env?: Readonly<Record<string, string>>;
  cwd?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The X frame of an exec; BAD_EXEC for what no command line can carry (NUL bytes, bad names, too much). */
export function execFrame(id: number, cmd: ExecCommand, stdin: boolean, tty?: TtySize): string {
  if (cmd.argv.length === 0) throw new VmError("BAD_EXEC", "argv must not be empty");
  const env = Object.entries(cmd.env ?? {});
  for (const [k] of env) {
    if (!ENV_NAME.test(k))
      throw new VmError("BAD_EXEC", `environment variable name '${k}' is not valid (letters, digits and _)`);
  }
  const strings = [cmd.cwd ?? "", ...env.map(([k, v]) => `${k}=${v}`), ...cmd.argv];
  if (strings.some((s) => s.includes("\0")))
    throw new VmError("BAD_EXEC", "argv, environment and directory cannot hold NUL characters");
  const request = Buffer.from(strings.map((s) => `${s}\0`).join(""), "utf8").toString("base64");
  const frame = `X ${id} ${stdin ? 1 : 0} ${tty?.rows ?? 0} ${tty?.cols ?? 0} ${env.length} ${cmd.argv.length} ${request}\n`;
  if (frame.length > AGENT_MAX_LINE)
    throw new VmError(
      "BAD_EXEC",
      `argv and environment are too large for the guest agent (${frame.length} bytes encoded, at most ${AGENT_MAX_LINE}): pass large data on stdin`,
    );
  return frame;
}
/** I frames for `data`, split into chunks of at most STDIN_CHUNK bytes. */
export function stdinFrames(id: number, data: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += STDIN_CHUNK) {
    const chunk = data.subarray(at, at + STDIN_CHUNK);
    out.push(Buffer.concat([Buffer.from(`I ${id} ${chunk.length}\n`, "latin1"), chunk]));
  }
  return out;
}
export const eofFrame = (id: number): string => `E ${id}\n`;
export const resizeFrame = (id: number, size: TtySize): string => `W ${id} ${size.rows} ${size.cols}\n`;
export const killFrame = (id: number): string => `K ${id}\n`;
export const pingFrame = (id: number): string => `P ${id}\n`;
export const SHUTDOWN_FRAME = "S\n";

/** What a T frame sets: the wall clock (ms since the epoch) and, if given, the hostname. */
export interface GuestIdentity {
  epochMs: number;
  hostname?: string | undefined;
}

/** The T frame; BAD_HOSTNAME for a hostname Linux would not take. */
export function identityFrame(id: number, s: GuestIdentity): string {
  const ns = BigInt(Math.max(0, Math.round(s.epochMs * 1e6)));
  const sec = ns / 1_000_000_000n;
  const nsec = ns % 1_000_000_000n;
  let host = "-";
  if (s.hostname !== undefined) {
    const b = Buffer.from(s.hostname, "utf8");
    if (b.length === 0 || b.length > HOSTNAME_MAX || b.includes(0))
      throw new VmError(
        "BAD_HOSTNAME",
        `hostname '${s.hostname}' is not one Linux takes (1 to ${HOSTNAME_MAX} bytes, no NUL)`,
      );
    host = b.toString("base64");
  }
  return `T ${id} ${sec} ${nsec} ${host}\n`;
}

/** Quote one word for /bin/sh. */
export function shQuote(w: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** Splits a byte stream into lines (the port delivers arbitrary chunks). */
export class LineSplitter {
  private buf = "";
  constructor(private readonly onLine: (line: string) => void) {}
  push(bytes: Uint8Array): void {
    this.buf += Buffer.from(bytes).toString("latin1");
    for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.onLine(line);
    }
    // A guest that never sends a newline must not grow this without bound.
    if (this.buf.length > 1 << 20) this.buf = "";
  }
}
