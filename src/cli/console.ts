/**
 * The interactive serial console: the host terminal in raw mode wired to the guest UART.
 * Ctrl-A X quits, Ctrl-A Ctrl-A sends a literal Ctrl-A (QEMU's -nographic escapes). The terminal
 * is restored however the run ends: normal exit, error, or a signal.
 */
const CTRL_A = 0x01;

export interface ConsoleHandle {
  /** Restore the terminal and stop reading input. Idempotent. */
  close(): void;
}

export function attachConsole(opts: { onInput: (bytes: Uint8Array) => void; onQuit: () => void }): ConsoleHandle {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let escape = false;
  let closed = false;
  const onData = (chunk: Buffer): void => {
    const out: number[] = [];
    for (const b of chunk) {
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) {
          // 'x'
          opts.onQuit();
          return;
        }
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A && raw) {
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
