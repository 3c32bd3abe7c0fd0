import { spawn, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Readable } from "node:stream";
import { CorralError } from "../../errors.js";
import type { Plan } from "./plan.js";
import { ContainerError } from "../errors.js";

/** Where `npm run build` puts the native helper (scripts/build-native.mjs). */
export function helperPath(): string {
  const env = process.env["CORRAL_INIT"];
  if (env) return env;
  const p = fileURLToPath(new URL("../../../native/corral-init", import.meta.url));
  if (!existsSync(p))
    throw new ContainerError(
      "OCI_HELPER_MISSING",
      `the native helper ${p} is missing; run 'npm run build' (it needs gcc and libc6-dev)`,
    );
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

/** Starts the helper for a plan: in this process's tree (runHelper) or the caller's (the server). */
export type HelperRunner = (plan: Plan, stdio: StdioOptions) => HelperRun;

/**
 * Follows corral-init's status channel (fd 3): "pid N", "ready", "exit N", "error MESSAGE",
 * then the end of the channel and of the helper. Shared by runHelper and the resident server,
 * whose client runs the helper and relays these events.
 */
export class StatusTracker {
  readonly pid: Promise<number>;
  readonly ready: Promise<void>;
  readonly exit: Promise<number>;
  private resolvePid!: (n: number) => void;
  private rejectPid!: (e: Error) => void;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private resolveExit!: (n: number) => void;
  private rejectExit!: (e: Error) => void;
  private failure: CorralError | undefined;
  private exitCode: number | undefined;
  private gotReady = false;
  private statusClosed = false;
  private helperExited = false;
  private helperCode = 0;

  constructor() {
    this.pid = new Promise<number>((a, b) => {
      this.resolvePid = a;
      this.rejectPid = b;
    });
    this.ready = new Promise<void>((a, b) => {
      this.resolveReady = a;
      this.rejectReady = b;
    });
    this.exit = new Promise<number>((a, b) => {
      this.resolveExit = a;
      this.rejectExit = b;
    });
    // A caller may await only some of these: unobserved rejections must not crash the process.
    for (const p of [this.pid, this.ready, this.exit]) p.catch(() => undefined);
  }

  line(line: string): void {
    const sp = line.indexOf(" ");
    const word = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? "" : line.slice(sp + 1);
    if (word === "pid") this.resolvePid(Number(rest));
    else if (word === "ready") {
      this.gotReady = true;
      this.resolveReady();
    } else if (word === "exit") this.exitCode = Number(rest);
    else if (word === "error")
      this.failure ??= new ContainerError("OCI_CONTAINER_START_FAILED", `container set-up failed: ${rest}`);
  }

  closed(): void {
    this.statusClosed = true;
    this.settle();
  }

  exited(code: number): void {
    this.helperExited = true;
    this.helperCode = code;
    this.settle();
  }

  /** The helper could not be started (or its caller went away): everything still open fails. */
  failed(err: CorralError): void {
    this.failure ??= err;
    this.statusClosed = true;
    this.helperExited = true;
    this.settle();
  }

  private settle(): void {
    if (!this.statusClosed || !this.helperExited) return;
    const err =
      this.failure ??
      new ContainerError(
        "OCI_CONTAINER_START_FAILED",
        `the container helper ended (status ${this.helperCode}) before the container was ready`,
      );
    this.rejectPid(err);
    if (!this.gotReady) this.rejectReady(err);
    if (this.exitCode !== undefined) this.resolveExit(this.exitCode);
    else if (this.gotReady && !this.failure) this.resolveExit(this.helperCode);
    else this.rejectExit(err);
  }
}

/** Start corral-init with a plan as a child of this process and follow its status channel. */
export const runHelper: HelperRunner = (plan, stdio = "inherit") => {
  const io: StdioOptions = Array.isArray(stdio) ? [...stdio.slice(0, 3), "pipe"] : [stdio, stdio, stdio, "pipe"];
  if (process.env["CORRAL_DEBUG_PLAN"]) process.stderr.write(`corral: helper plan:\n${plan.toString()}\n`);
  const child = spawn(helperPath(), [plan.toString()], { stdio: io });
  const status = child.stdio[3] as Readable;
  const t = new StatusTracker();
  let buf = "";
  status.setEncoding("utf8");
  status.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      t.line(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  status.on("close", () => t.closed());
  status.on("error", () => undefined);
  child.on("error", (e) =>
    t.failed(new ContainerError("OCI_HELPER_MISSING", `cannot start ${helperPath()}: ${e.message}`, { cause: e })),
  );
  child.on("exit", (code, sig) => t.exited(code ?? 128 + (sig ? 9 : 0)));
  return { pid: t.pid, ready: t.ready, exit: t.exit, helperPid: child.pid ?? -1 };
};
