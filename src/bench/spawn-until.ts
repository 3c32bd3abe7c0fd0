import { spawn } from "node:child_process";
import { killOnInterrupt } from "./cleanup.js";

export interface TimedRun {
  /** Milliseconds from spawn to the first output containing `marker` (or to exit without it). */
  ms: number;
  found: boolean;
  exitCode: number | null;
}

/**
 * Start a command, time it until its output contains `marker` (or it exits), then stop it.
 * Both Corral and QEMU are measured this way, so the ratio compares like with like.
 */
export function timeUntil(cmd: string, args: string[], marker: string | null, timeoutMs = 600_000): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    killOnInterrupt(child);
    let tail = "";
    let done = false;
    const finish = (found: boolean, code: number | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (child.exitCode === null) child.kill("SIGKILL");
      resolve({ ms, found, exitCode: code });
    };
    const timer = setTimeout(() => finish(false, null), timeoutMs);
    const watch = (d: Buffer): void => {
      if (marker === null) return;
      tail = (tail + d.toString("latin1")).slice(-4096);
      if (tail.includes(marker)) finish(true, null);
    };
    child.stdout.on("data", watch);
    child.stderr.on("data", watch);
    child.on("error", reject);
    child.on("exit", (code) => finish(marker === null, code));
  });
}

/** Run a command to its end and return everything it printed (stdout and stderr). */
export function runUntilExit(cmd: string, args: string[], timeoutMs = 900_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    killOnInterrupt(child);
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} did not finish in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.stdout.on("data", (d: Buffer) => (out += d.toString("latin1")));
    child.stderr.on("data", (d: Buffer) => (out += d.toString("latin1")));
    child.on("error", reject);
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

export interface FinishedRun {
  /** Milliseconds from spawn to exit. */
  ms: number;
  exitCode: number | null;
  /** Everything it printed (stdout, then stderr as it came). */
  output: string;
}

/** Run a command to its end, timed from spawn to exit, with its output (for benches that check a result). */
export function runTimed(cmd: string, args: string[], timeoutMs = 900_000): Promise<FinishedRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    killOnInterrupt(child);
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} did not finish in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.stdout.on("data", (d: Buffer) => (output += d.toString("latin1")));
    child.stderr.on("data", (d: Buffer) => (output += d.toString("latin1")));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, exitCode: code, output });
    });
  });
}
