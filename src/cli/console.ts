/**
 * The interactive serial console: the host terminal in raw mode wired to the guest UART.
 * Ctrl-A X quits, Ctrl-A Ctrl-A sends a literal Ctrl-A (QEMU's -nographic escapes). The terminal
 * is restored however the run ends: normal exit, error, or a signal.
 */
import { parseVerbArgs, usageError } from "../args.js";

const CTRL_A = 0x01;

export interface ConsoleHandle {
  /** Restore the terminal and stop reading input. Idempotent. */
  close(): void;
}

export interface ConsoleOptions {
  onInput: (bytes: Uint8Array) => void;
  onQuit: () => void;
  /** Honour Ctrl-A X even when stdin is not a terminal (so scripts can detach). */
  escapeWhenPiped?: boolean;
}

export function attachConsole(opts: ConsoleOptions): ConsoleHandle {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  const escapes = raw || opts.escapeWhenPiped === true;
  let escape = false;
  let closed = false;
  const onData = (chunk: Buffer): void => {
    const out: number[] = [];
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          // 'x'
          if (out.length) opts.onInput(Uint8Array.from(out));
          opts.onQuit();
          return;
        }
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A && escapes) {
        escape = true;
        continue;
      }
      out.push(b);
    }
    if (out.length) opts.onInput(Uint8Array.from(out));
  };
  const restore = (): void => {
    if (closed) return;
    closed = true;
    stdin.off("data", onData);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
  if (raw) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.resume();
  process.once("exit", restore);
  return { close: restore };
}

const CONSOLE_USAGE =
  "Usage: corral console NAME\n\nAttach to the console (ttyS0 or hvc0, as started) of running VM NAME; Ctrl-A X detaches (the VM keeps running).\n";

/**
 * `corral console NAME`: attach this terminal to a running VM's serial console. Ctrl-A X
 * detaches and leaves the VM running (here also when stdin is not a terminal, so scripts can
 * detach); Ctrl-A Ctrl-A sends Ctrl-A.
 */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs("console", argv, { help: { type: "boolean", short: "h" } });
  if (values.help === true) {
    process.stdout.write(CONSOLE_USAGE);
    return 0;
  }
  const [name, extra] = positionals;
  if (name === undefined || extra !== undefined)
    throw usageError("name one VM: corral console NAME; see 'corral console --help'");
  const { VmClient } = await import("../vm/client.js");
  const sock = await new VmClient(name).console();
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) process.stderr.write(`corral: attached to ${name}; Ctrl-A X detaches\r\n`);
  return new Promise<number>((resolve) => {
    let detached = false;
    const finish = (): void => {
      con.close();
      // pause() alone keeps a piped stdin's handle alive until EOF; this process is done with it.
      stdin.destroy();
      sock.destroy();
      if (!detached) process.stderr.write(`\r\ncorral: VM '${name}' stopped\r\n`);
      resolve(0);
    };
    const con = attachConsole({
      onInput: (b) => sock.write(b),
      onQuit: () => {
        detached = true;
        finish();
      },
      escapeWhenPiped: true,
    });
    sock.on("data", (b: Buffer) => process.stdout.write(b));
    sock.on("close", () => {
      if (!detached) finish();
    });
  });
}
