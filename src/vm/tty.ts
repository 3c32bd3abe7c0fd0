/**
 * A terminal's size, as the control socket (control/protocol.ts) and the guest agent
 * (agent/protocol.ts) both carry it.
 */
import { VmError } from "./errors.js";

/** A pseudo-terminal's size in character cells. */
export interface TtySize {
  rows: number;
  cols: number;
}

/** The size of a terminal that no host terminal gave a size to (a VT100's). */
export const DEFAULT_TTY_SIZE: TtySize = { rows: 24, cols: 80 };

/** The window size the kernel keeps is two unsigned shorts (struct winsize, tty_ioctl(4)). */
const TTY_MAX = 0xffff;

/** `size` as a TtySize, or a CorralError BAD_TTY_SIZE that says what is wrong. */
export function checkTtySize(size: unknown): TtySize {
  const s = size as Partial<TtySize> | null;
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n > 0 && n <= TTY_MAX;
  if (typeof s !== "object" || s === null || !ok(s.rows) || !ok(s.cols)) {
    const shown = typeof s === "object" && s !== null ? `${String(s.rows)}x${String(s.cols)}` : String(size);
    throw new VmError(
      "BAD_TTY_SIZE",
      `the terminal size ${shown} is not valid: rows and cols must be whole numbers from 1 to ${TTY_MAX}`,
    );
  }
  return { rows: s.rows, cols: s.cols };
}
