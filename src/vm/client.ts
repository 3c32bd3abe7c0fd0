/**
 * A client of one VM's control socket (control/protocol.ts; served by server.ts, which this does
 * not load). Every call first checks that the VM is running, so a stopped or crashed VM gives
 * VM_NOT_RUNNING rather than a socket error.
 */
import type { RateLimitSpec } from "../devices/kinds/limit.js";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { join } from "node:path";
import type { Socket } from "node:net";
import { CorralError } from "../errors.js";
import {
  CONSOLE_UPGRADE,
  NDJSON,
  ROUTES,
  type ApiError,
  type ExecBody,
  type ExecInput,
  type ExecOutcome,
  type ExecOutput,
  type MemoryBody,
  type LimitBody,
  type LimitInfo,
  type VfBody,
  type VfInfo,
  type MemoryInfo,
  type SnapshotBody,
  type SnapshotInfo,
  type StopBody,
  type VmInfo,
} from "./control/protocol.js";
import { checkTtySize, type TtySize } from "./tty.js";
import { VM_FILES, requireVm, vmDir, type VmRecord } from "./state.js";
import { VmError } from "./errors.js";

/** Stdin for exec: bytes, or chunks as they come (a Readable is one), each sent at once. */
export type ExecStdin = Uint8Array | AsyncIterable<Uint8Array | string>;

/** A command running in the guest. */
export interface ExecSession {
  result: Promise<ExecOutcome>;
  /** Set the terminal's size (execs with a tty only): the guest command gets SIGWINCH. */
  resize(size: TtySize): void;
  /**
   * Give up on the command: the connection closes, which kills it in the guest (its process
   * group, server.ts), no more output is passed on, and `result` rejects with `reason`.
   */
  abort(reason: CorralError): void;
}

/**
 * How long a VM's control socket may take to start answering a request. A VM process whose event
 * loop is blocked (or that is stopped) accepts connections in the kernel but never answers: past
 * this it counts as not answering (VM_NOT_ANSWERING), so no command waits on one VM for ever.
 * Generous, because a busy host can be slow; an exec's command may then run as long as it likes.
 */
export const CONTROL_TIMEOUT_MS = 10_000;
/** How long a broken connection waits for its VM's process to end before it counts as broken. */
const LOST_SETTLE_MS = 2_000;

/** Fail `req` with VM_NOT_ANSWERING unless the server answers (`event`) within CONTROL_TIMEOUT_MS. */
function answerWithin(req: ClientRequest, name: string, event: "response" | "upgrade" = "response"): void {
  const t = setTimeout(() => {
    req.destroy(
      new VmError(
        "VM_NOT_ANSWERING",
        `VM '${name}' does not answer on its control socket (${CONTROL_TIMEOUT_MS / 1000} s): it may be wedged; 'corral stop ${name}' kills it`,
      ),
    );
  }, CONTROL_TIMEOUT_MS);
  const clear = (): void => clearTimeout(t);
  req.once(event, clear);
  req.once("close", clear);
}

/** A socket error as VM_NOT_RUNNING; VM_NOT_ANSWERING (answerWithin) as it is. */
function socketError(name: string, e: Error, hint = ": it may be stopping"): CorralError {
  return e instanceof CorralError
    ? e
    : new VmError("VM_NOT_RUNNING", `VM '${name}' does not answer on its control socket (${e.message})${hint}`);
}

/** Bytes of stdin per request line. */
const STDIN_LINE = 64 * 1024;

export class VmClient {
  readonly socket: string;
  constructor(
    readonly name: string,
    readonly home?: string,
  ) {
    this.socket = join(vmDir(name, home), VM_FILES.socket);
  }

  /** The VM's record; VM_NOT_RUNNING when it is not. */
  record(): VmRecord {
    return requireVm(this.name, this.home);
  }

  private call(method: string, path: string, payload?: unknown): Promise<IncomingMessage> {
    this.record();
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socket, method, path, headers: { "content-type": "application/json" } },
        resolve,
      );
      answerWithin(req, this.name);
      req.on("error", (e) => reject(socketError(this.name, e)));
      req.end(payload === undefined ? undefined : JSON.stringify(payload));
    });
  }

  private async jsonCall<T>(method: string, path: string, payload?: unknown): Promise<T> {
    const res = await this.call(method, path, payload);
    let v: T & Partial<ApiError>;
    try {
      const parts: Buffer[] = [];
      for await (const c of res) parts.push(c as Buffer);
      v = JSON.parse(Buffer.concat(parts).toString("utf8")) as T & Partial<ApiError>;
    } catch (e) {
      throw await this.lost(e, "answered");
    }
    if (v.error) throw new CorralError(v.error.code, v.error.message);
    return v;
  }

  info(): Promise<VmInfo> {
    return this.jsonCall<VmInfo>("GET", ROUTES.vm);
  }

  memory(): Promise<MemoryInfo> {
    return this.jsonCall<MemoryInfo>("GET", ROUTES.memory);
  }

  setMemory(bytes: number): Promise<MemoryInfo> {
    return this.jsonCall<MemoryInfo>("PUT", ROUTES.memory, { bytes } satisfies MemoryBody);
  }

  /** Snapshot the VM into `dir` (absolute, not existing): src/snapshot/write.ts. */
  snapshot(dir: string, o: { hashRam?: boolean; linkRam?: boolean } = {}): Promise<SnapshotInfo> {
    return this.jsonCall<SnapshotInfo>("POST", ROUTES.snapshot, { dir, ...o } satisfies SnapshotBody);
  }

  /** Every disk's and NIC's rate limits and counters. */
  limits(): Promise<LimitInfo[]> {
    return this.jsonCall<LimitInfo[]>("GET", ROUTES.limits);
  }

  /** New rate limits for one disk or NIC of the running VM; undefined removes them. */
  setLimit(device: string, limit: RateLimitSpec | undefined): Promise<LimitInfo> {
    return this.jsonCall<LimitInfo>("PUT", ROUTES.limits, { device, limit: limit ?? null } satisfies LimitBody);
  }

  /** Every SR-IOV VF of the VM's NICs, with its host-side settings. */
  vfs(): Promise<VfInfo[]> {
    return this.jsonCall<VfInfo[]>("GET", ROUTES.vfs);
  }

  /** Change one VF's MAC, VLAN, rate, spoof checking, trust or link state. */
  setVf(body: VfBody): Promise<VfInfo> {
    return this.jsonCall<VfInfo>("PUT", ROUTES.vfs, body);
  }

  async requestStop(timeoutMs: number): Promise<void> {
    await this.jsonCall("POST", ROUTES.stop, { timeoutMs } satisfies StopBody);
  }

  /**
   * Run a command; output is streamed to `onOutput` as it arrives, stdin is sent as it comes.
   * One request carries both ways (server.ts): its body is written while the response is read.
   * With `body.tty` and no TERM in `body.env`, the guest gets this process's TERM (or xterm).
   */
  exec(body: Omit<ExecBody, "stdin">, onOutput: (fd: 1 | 2, data: Buffer) => void, stdin?: ExecStdin): ExecSession {
    let req: ClientRequest | undefined;
    let finished = false;
    let aborted: CorralError | undefined;
    const line = (v: ExecBody | ExecInput): boolean =>
      req !== undefined && !finished && !req.destroyed ? req.write(JSON.stringify(v) + "\n") : true;
    const result = (async (): Promise<ExecOutcome> => {
      this.record();
      const tty = body.tty === undefined ? undefined : checkTtySize(body.tty);
      const env =
        tty && body.env?.["TERM"] === undefined ? { ...body.env, TERM: process.env["TERM"] || "xterm" } : body.env;
      // A connection of its own (agent: false): never a kept-alive one the server may be closing.
      const r = request({
        socketPath: this.socket,
        method: "POST",
        path: ROUTES.exec,
        agent: false,
        headers: { "content-type": NDJSON },
      });
      req = r;
      // The server sends its status line at once (server.ts), before the command or the agent.
      answerWithin(r, this.name);
      const response = new Promise<IncomingMessage>((resolve, reject) => {
        r.on("response", resolve);
        r.on("error", (e) => reject(socketError(this.name, e)));
      });
      line({ ...body, ...(env ? { env } : {}), ...(tty ? { tty } : {}), stdin: stdin !== undefined });
      const it = stdin === undefined || stdin instanceof Uint8Array ? undefined : stdin[Symbol.asyncIterator]();
      if (stdin !== undefined) void this.pumpStdin(r, it ?? (stdin as Uint8Array), () => finished);
      // The last line ends the request: the server ends the response once it has read that.
      const last = (): void => {
        if (finished) return;
        finished = true;
        r.end();
      };
      try {
        if (aborted) throw aborted;
        const outcome = await this.readExec(
          await response,
          (fd, data) => {
            if (!aborted) onOutput(fd, data);
          },
          last,
          () => aborted,
        );
        if (aborted) throw aborted;
        return outcome;
      } catch (e) {
        throw aborted ?? e;
      } finally {
        last();
        // A source still waiting for input (a terminal's stdin) is told to stop, once it can be.
        it?.return?.().catch(() => {});
      }
    })();
    return {
      result,
      resize: (size) => {
        if (body.tty === undefined) throw new VmError("EXEC_NOT_TTY", "resize needs an exec started with a tty");
        line({ resize: checkTtySize(size) });
      },
      abort: (reason) => {
        if (aborted) return;
        aborted = reason;
        finished = true;
        req?.destroy();
      },
    };
  }

  /** Write stdin as request lines, waiting for the socket to drain; then the end of stdin. */
  private async pumpStdin(
    req: ClientRequest,
    stdin: Uint8Array | AsyncIterator<Uint8Array | string>,
    done: () => boolean,
  ): Promise<void> {
    const open = (): boolean => !done() && !req.destroyed;
    const drained = (): Promise<void> =>
      new Promise((resolve) => {
        const go = (): void => {
          req.off("drain", go);
          req.off("close", go);
          resolve();
        };
        req.on("drain", go);
        req.on("close", go);
      });
    const send = async (chunk: Uint8Array): Promise<void> => {
      for (let at = 0; at < chunk.length && open(); at += STDIN_LINE) {
        const v: ExecInput = { stdin: Buffer.from(chunk.subarray(at, at + STDIN_LINE)).toString("base64") };
        if (!req.write(JSON.stringify(v) + "\n")) await drained();
      }
    };
    try {
      if (stdin instanceof Uint8Array) await send(stdin);
      else {
        for (let n = await stdin.next(); !n.done && open(); n = await stdin.next()) {
          await send(typeof n.value === "string" ? Buffer.from(n.value) : n.value);
        }
      }
    } catch {
      // A failing stdin source ends stdin; the command goes on.
    }
    if (open()) req.write(JSON.stringify({ eof: true } satisfies ExecInput) + "\n");
  }

  private async readExec(
    res: IncomingMessage,
    onOutput: (fd: 1 | 2, data: Buffer) => void,
    onLast: () => void,
    aborted: () => CorralError | undefined = () => undefined,
  ): Promise<ExecOutcome> {
    let buf = "";
    let result: ExecOutcome | undefined;
    let error: { code: string; message: string } | undefined;
    const line = (l: string): void => {
      if (!l) return;
      const v = JSON.parse(l) as Partial<ExecOutput & ExecOutcome & ApiError>;
      if (v.error) error = v.error;
      else if (v.fd !== undefined && v.data !== undefined) onOutput(v.fd, Buffer.from(v.data, "base64"));
      else if (v.exitCode !== undefined)
        result = {
          exitCode: v.exitCode,
          timedOut: v.timedOut === true,
          ...(v.unconfirmed ? { unconfirmed: true } : {}),
        };
      if (v.error || v.exitCode !== undefined) {
        onLast();
        decide();
      }
    };
    // The outcome is known at its line: the response's end comes only after the server has read
    // the end of the request (onLast), one more round trip through the VM's process, which the
    // caller need not wait for. The rest is read (and dropped) in the background.
    let decide!: () => void;
    const decided = new Promise<void>((r) => (decide = r));
    let broken: unknown;
    const reading = (async (): Promise<void> => {
      try {
        for await (const c of res) {
          buf += (c as Buffer).toString("utf8");
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            line(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        }
        line(buf.trim());
      } catch (e) {
        broken = e;
      } finally {
        decide();
      }
    })();
    await decided;
    if (!result && !error) {
      await reading;
      // Given up on by the caller (abort): the broken connection is its doing, not the VM's.
      if (broken !== undefined) throw aborted() ?? (await this.lost(broken, "the command finished"));
    }
    if (error) throw new CorralError(error.code, error.message);
    if (!result) throw new VmError("VM_NOT_RUNNING", `VM '${this.name}' stopped before the command finished`);
    return result;
  }

  /**
   * The response broke off (the VM process was killed or exited: Node's "aborted", ECONNRESET) or
   * was not what the server sends: VM_NOT_RUNNING, saying whether the VM is still there.
   */
  private async lost(e: unknown, before: string): Promise<CorralError> {
    if (e instanceof CorralError) return e;
    const why = e instanceof Error ? e.message : String(e);
    const running = (): boolean => {
      try {
        this.record();
        return true;
      } catch {
        return false;
      }
    };
    // A VM being stopped (SIGTERM, `rm -f`) closes its connections before its process is gone:
    // give it a moment to be gone before calling the connection broken.
    for (let i = 0; i < LOST_SETTLE_MS / 50 && running(); i++) await new Promise((r) => setTimeout(r, 50));
    return running()
      ? new VmError(
          "VM_CONNECTION_LOST",
          `the connection to VM '${this.name}' broke off before ${before} (${why}): see 'corral ps' and its console log`,
          { cause: e },
        )
      : new VmError("VM_NOT_RUNNING", `VM '${this.name}' stopped before ${before}`, { cause: e });
  }

  /** The serial console as a raw byte stream (HTTP upgrade). */
  console(): Promise<Socket> {
    this.record();
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socket,
        path: ROUTES.console,
        headers: { connection: "Upgrade", upgrade: CONSOLE_UPGRADE },
      });
      req.on("upgrade", (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket as Socket);
      });
      req.on("response", (res) =>
        reject(new VmError("CONSOLE_REFUSED", `VM '${this.name}' refused the console (HTTP ${res.statusCode ?? 0})`)),
      );
      answerWithin(req, this.name, "upgrade");
      req.on("error", (e) => reject(socketError(this.name, e, "")));
      req.end();
    });
  }
}
