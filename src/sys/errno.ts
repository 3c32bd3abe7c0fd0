/**
 * errno numbers by name and names by number (errno(3); values from the host's asm-generic/errno*.h
 * through Node's os.constants), and the error a failed system call becomes.
 */
import { constants } from "node:os";
import { CorralError } from "../errors.js";

/** The errno values callers test for. */
export const { EPERM, EACCES, EBUSY, EOPNOTSUPP } = constants.errno;
/** EAGAIN's other name, what flock(2) documents. */
export const EWOULDBLOCK = constants.errno.EWOULDBLOCK;

const names = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!names.has(n)) names.set(n, name);

/** "EACCES" for 13; "errno N" for a number the host does not name. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}

/** A system call that failed: `${what} failed: ENAME`, with the number kept for callers to test. */
export class SysError extends CorralError {
  override readonly name: string = "SysError";
  constructor(
    code: string,
    /** The call and its object, e.g. "mount tmpfs on /x". */
    readonly what: string,
    readonly errno: number,
  ) {
    super(code, `${what} failed: ${errnoName(errno)}`);
  }
}
