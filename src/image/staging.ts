/**
 * Scratch directories and locks under $CORRAL_HOME. A pull builds everything in a private
 * temporary directory and renames the finished image into place, so an interrupted pull never
 * leaves something that looks complete; temporaries of dead processes are swept at the next pull.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeSync,
} from "node:fs";
import type { ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { ImageError } from "./errors.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove `<tmpRoot>/<prefix>-<pid>-*` directories whose process is gone. */
export function sweepStale(tmpRoot: string, prefix: string): void {
  if (!existsSync(tmpRoot)) return;
  for (const name of readdirSync(tmpRoot)) {
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpRoot, name), { recursive: true, force: true });
  }
}

export interface Scratch {
  dir: string;
  /** Kill this child process if we are interrupted or disposed while it runs. */
  track(child: ChildProcess): void;
  /** Run `fn` at dispose (after the directory is removed), latest registered first. */
  onCleanup(fn: () => void): void;
  /** Kill tracked children, remove the directory, run cleanups (idempotent); stop watching signals. */
  dispose(): void;
}

/**
 * A fresh directory `<tmpRoot>/<prefix>-<pid>-XXXXXX`, removed by dispose() and also if the
 * process is interrupted (SIGINT, SIGTERM, SIGHUP) meanwhile.
 */
export function makeScratch(tmpRoot: string, prefix: string): Scratch {
  mkdirSync(tmpRoot, { recursive: true });
  const dir = mkdtempSync(join(tmpRoot, `${prefix}-${process.pid}-`));
  const children = new Set<ChildProcess>();
  const cleanups: (() => void)[] = [];
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const onSignal = (sig: NodeJS.Signals): void => {
    dispose();
    process.kill(process.pid, sig); // our handler is gone: die of the signal as we would have
  };
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    for (const s of signals) process.removeListener(s, onSignal);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    for (const fn of cleanups.reverse()) {
      try {
        fn();
      } catch {
        // cleanup is best effort; the next run sweeps what is left
      }
    }
  };
  for (const s of signals) process.once(s, onSignal);
  return {
    dir,
    dispose,
    track: (c) => {
      children.add(c);
      c.once("exit", () => children.delete(c));
    },
    onCleanup: (fn) => void cleanups.push(fn),
  };
}

/**
 * An exclusive lock file holding our pid; a lock left by a dead process is taken over. Waits
 * (polling) while another live process holds it, up to `timeoutMs`.
 */
export async function acquireLock(path: string, what: string, timeoutMs = 30 * 60_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        mkdirSync(dirname(path), { recursive: true }); // removed by a finishing pull: recreate
        continue;
      }
      if (code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, "utf8").trim());
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new ImageError(
        "IMAGE_BUSY",
        `${what} is locked by process ${holder} (${path}); wait for it or remove the lock`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
