/**
 * The guest agent protocol: text lines over the virtio-console port AGENT_PORT_NAME, fields
 * separated by one space, binary data base64-encoded (so a line never holds a space or newline
 * of user data). The guest side is the busybox script in src/image/agent.ts.
 *
 * Host to guest:
 *   X <id> <script> <stdin> [<rows> <cols>]
 *                             start exec <id> at once: <script> (escaped for the shell's
 *                             builtin `printf %b`: see printfEscape) is run by `sh` in a new
 *                             session; <stdin> 1: stdin is streamed as I lines and ended by E,
 *                             0: stdin is /dev/null. With <rows> <cols> the command runs on a
 *                             pseudo-terminal of that size (stdout and stderr are its output,
 *                             fd 1, in the telnet encoding of busybox telnetd: see telnet.ts)
 *   I <id> <n>                a chunk of stdin: the line is followed by <n> raw bytes (at most
 *                             STDIN_CHUNK; the agent reads them with dd, not a byte at a time);
 *                             the host sends at most STDIN_WINDOW chunks not yet credited (C)
 *   E <id>                    end of stdin: the command reads end of file
 *   W <id> <rows> <cols>      the pseudo-terminal's new size (the kernel sends SIGWINCH)
 *   K <id>                    kill exec <id>'s process group (SIGKILL)
 *   P <id>                    ping
 *   S                         sync and power off
 * Guest to host:
 *   H <version>               the agent is up and speaks AGENT_VERSION <version>
 *   A <id>                    exec <id> was received
 *   C <id>                    exec <id> took one stdin chunk (a credit for one more I line)
 *   O <id> <fd> <data>        output of exec <id> on fd 1 or 2 (base64)
 *   R <id> <status>           exec <id> ended with <status> (128+N: killed by signal N)
 *   P <id>                    answer to a ping
 */
import type { TtySize } from "../tty.js";

export const AGENT_PORT_NAME = "org.corral.agent";
/** 2: stdin streamed with credits (C), pseudo-terminals (X sizes, W). 3: X scripts in printf %b escapes. */
export const AGENT_VERSION = 3;
/** Bytes of output per O line: 4 KiB of base64, far below the 32 KiB Linux sends per write. */
export const OUTPUT_CHUNK = 3072;
/**
 * Bytes of stdin per I frame. The agent passes chunks to the exec's feeder through a FIFO;
 * STDIN_WINDOW of them (48 KiB) always fit in its 64 KiB pipe buffer (pipe(7)), so the agent's
 * main loop never blocks on a command that does not read its stdin.
 */
export const STDIN_CHUNK = 16 * 1024;
export const STDIN_WINDOW = 3;

export type AgentMessage =
  | { kind: "hello"; version: number }
  | { kind: "ack"; id: number }
  | { kind: "credit"; id: number }
  | { kind: "output"; id: number; fd: 1 | 2; data: Buffer }
  | { kind: "exit"; id: number; status: number }
  | { kind: "pong"; id: number };

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

/**
 * `text` as an argument the shell's builtin `printf '%b'` turns back into its UTF-8 bytes, with no
 * space, tab, newline or backslash of its own: letters, digits and plain punctuation stay, every
 * other byte becomes \0ooo (POSIX printf, %b). The agent decodes an exec's script without
 * starting a process (base64 -d would cost a fork and an exec of busybox in the guest).
 */
export function printfEscape(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.,:;=+\-/@%^*()[\]{}<>!?#~|&$'"`]/.test(c) ? c : `\\0${byte.toString(8).padStart(3, "0")}`;
  }
  return out;
}

export function execFrame(id: number, script: string, stdin: boolean, tty?: TtySize): string {
  return `X ${id} ${printfEscape(script)} ${stdin ? 1 : 0}${tty ? ` ${tty.rows} ${tty.cols}` : ""}\n`;
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

/** Quote one word for /bin/sh. */
export function shQuote(w: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The script an exec runs: change directory, set the environment, exec argv (no shell parsing of argv). */
export function execScript(argv: readonly string[], env: Readonly<Record<string, string>> = {}, cwd?: string): string {
  const lines: string[] = [];
  if (cwd !== undefined) lines.push(`cd ${shQuote(cwd)} || exit 126`);
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new RangeError(`environment variable name '${k}' is not valid`);
    lines.push(`export ${k}=${shQuote(v)}`);
  }
  lines.push(`exec ${argv.map(shQuote).join(" ")}`);
  return lines.join("\n") + "\n";
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
