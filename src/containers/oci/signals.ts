import { SIGNALS } from "../linux/consts.js";
import { ContainerError } from "../errors.js";

/** A signal as runc's kill takes it: "KILL", "SIGKILL" or "9". */
export function parseSignal(s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
  }
  const name = s.toUpperCase().replace(/^SIG/, "");
  const n = SIGNALS[name];
  if (n === undefined)
    throw new ContainerError("OCI_BAD_SIGNAL", `'${s}' is not a signal; use a name like TERM or KILL, or a number`, {
      exitCode: 1,
    });
  return n;
}
