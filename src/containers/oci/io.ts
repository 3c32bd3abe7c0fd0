import { resolve } from "node:path";

/**
 * What one `corral oci` call may touch of its caller: output, working directory, signals. The
 * CLI gives its own process's; the resident server gives the connected client's, so that the
 * same command code serves both (src/containers/server/).
 */
export interface CallIO {
  /** The caller's working directory: relative paths in flags are resolved against it. */
  readonly cwd: string;
  out(text: string): void;
  err(text: string): void;
  /** SIGINT, SIGTERM or SIGHUP received by the caller (run in the foreground forwards them). */
  onSignal(handler: (sig: NodeJS.Signals) => void): void;
  /** true once the caller has gone away: long-running commands (events) stop. */
  gone(): boolean;
}

/** The calling process itself (the CLI run by Node). */
export function processIO(): CallIO {
  return {
    cwd: process.cwd(),
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    onSignal: (h) => {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => h(s));
    },
    gone: () => false,
  };
}

/** A path flag's value, absolute: relative to the caller's directory, not the server's. */
export function callPath(io: CallIO, p: string): string {
  return resolve(io.cwd, p);
}
