import { spawn, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Readable } from "node:stream";
import { CorralError } from "../../errors.js";
import type { Plan } from "./plan.js";

/** Where `npm run build` puts the native helper (scripts/build-native.mjs). */
export function helperPath(): string {
  const env = process.env["CORRAL_INIT"];
  if (env) return env;
  const p = fileURLToPath(new URL("../../../native/corral-init", import.meta.url));
  if (!existsSync(p)) throw new CorralError("OCI_HELPER_MISSING", `the native helper ${p} is missing; run 'npm run build' (it needs gcc and libc6-dev)`);
  return p;
}

export interface HelperRun {
  /** The container process's PID (resolved when the helper has cloned it). */
  pid: Promise<number>;
  /** Set-up finished: the process waits for `start` (or runs, without a FIFO). */
  ready: Promise<void>;
  /** Exit status of the container process (not detached), or 0 once a detached helper leaves. */
  exit: Promise<number>;
  /** PID of the helper itself (the monitor, when not detached). */
  helperPid: number;
}

/**
 * Start corral-init with a plan and follow its status channel (fd 3): "pid N", "ready",
 * "exit N", "error MESSAGE".
 */
export function runHelper(plan: Plan, stdio: StdioOptions = "inherit"): HelperRun {
  const io: StdioOptions = Array.isArray(stdio) ? [...stdio.slice(0, 3), "pipe"] : [stdio, stdio, stdio, "pipe"];
  if (process.env["CORRAL_DEBUG_PLAN"]) process.stderr.write(`corral: helper plan:\n${plan.toString()}\n`);
  const child = spawn(helperPath(), [plan.toString()], { stdio: io });
  const status = child.stdio[3] as Readable;
  let resolvePid!: (n: number) => void, rejectPid!: (e: Error) => void;
  let resolveReady!: () => void, rejectReady!: (e: Error) => void;
  let resolveExit!: (n: number) => void, rejectExit!: (e: Error) => void;
  const pid = new Promise<number>((a, b) => { resolvePid = a; rejectPid = b; });
  const ready = new Promise<void>((a, b) => { resolveReady = a; rejectReady = b; });
  const exit = new Promise<number>((a, b) => { resolveExit = a; rejectExit = b; });
  // A caller may await only some of these: unobserved rejections must not crash the process.
  for (const p of [pid, ready, exit]) p.catch(() => undefined);
  let failure: CorralError | undefined;
  let exitCode: number | undefined;
  let gotReady = false;
  let buf = "";
  status.setEncoding("utf8");
  status.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const sp = line.indexOf(" ");
      const word = sp < 0 ? line : line.slice(0, sp);
      const rest = sp < 0 ? "" : line.slice(sp + 1);
      if (word === "pid") resolvePid(Number(rest));
      else if (word === "ready") { gotReady = true; resolveReady(); }
      else if (word === "exit") exitCode = Number(rest);
      else if (word === "error") failure ??= new CorralError("OCI_CONTAINER_START_FAILED", `container set-up failed: ${rest}`);
    }
  });
  let statusClosed = false, helperExited = false, helperCode = 0;
  const settle = () => {
    if (!statusClosed || !helperExited) return;
    const err = failure ?? new CorralError("OCI_CONTAINER_START_FAILED", `the container helper ended (status ${helperCode}) before the container was ready`);
    rejectPid(err);
    if (!gotReady) rejectReady(err);
    if (exitCode !== undefined) resolveExit(exitCode);
    else if (gotReady && !failure) resolveExit(helperCode);
    else rejectExit(err);
  };
  status.on("close", () => { statusClosed = true; settle(); });
  status.on("error", () => undefined);
  child.on("error", (e) => { failure ??= new CorralError("OCI_HELPER_MISSING", `cannot start ${helperPath()}: ${e.message}`, { cause: e }); helperExited = true; statusClosed = true; settle(); });
  child.on("exit", (code, sig) => { helperExited = true; helperCode = code ?? 128 + (sig ? 9 : 0); settle(); });
  return { pid, ready, exit, helperPid: child.pid ?? -1 };
}
