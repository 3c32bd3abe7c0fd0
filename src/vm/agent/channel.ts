/**
 * The host end of the guest agent (protocol.ts) on a virtio-console port: several execs at once,
 * each with its own id; output streamed to callbacks; stdin streamed with credits; a timeout
 * kills the guest process group.
 */
import type { ConsolePort } from "../../devices/virtio/console.js";
import {
  AGENT_VERSION,
  IDENTITY_VERSION,
  LineSplitter,
  MIN_AGENT_VERSION,
  STDIN_CHUNK,
  STDIN_WINDOW,
  SHUTDOWN_FRAME,
  eofFrame,
  execFrame,
  identityFrame,
  killFrame,
  parseAgentLine,
  pingFrame,
  resizeFrame,
  stdinFrames,
  type AgentMessage,
  type GuestIdentity,
} from "./protocol.js";
import type { TtySize } from "../tty.js";
import { VmError } from "../errors.js";

/** How long the agent may take to acknowledge a request before it counts as not answering. */
export const AGENT_ACK_MS = 15_000;
/** How long after a timeout's kill the host waits for the guest to report the end. */
export const KILL_CONFIRM_MS = 10_000;
/** Stdin bytes queued for one exec before write() asks its caller to wait for drain. */
const STDIN_HIGH_WATER = 256 * 1024;
/** Ctrl-D: with a terminal the end of stdin is typed as the terminal's end-of-file character. */
const VEOF = Uint8Array.of(4);

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Stdin is streamed through the handle (write, end); otherwise it is /dev/null. */
  stdin?: boolean;
  /** Run on a pseudo-terminal of this size (stdout and stderr are one stream, fd 1). */
  tty?: TtySize;
  timeoutMs?: number;
}

export interface ExecResult {
  exitCode: number;
  timedOut: boolean;
  /** Timed out, and the guest did not report the command's end within KILL_CONFIRM_MS of the kill. */
  unconfirmed?: boolean;
}

/** A running exec. */
export interface ExecHandle {
  id: number;
  done: Promise<ExecResult>;
  /** Queue stdin; false when the caller should wait for drained() before writing more. */
  write(data: Uint8Array): boolean;
  /** Resolves when the queued stdin has fallen below the high-water mark (or the exec ended). */
  drained(): Promise<void>;
  /** End of stdin, once the queued chunks are sent. */
  end(): void;
  resize(size: TtySize): void;
}

interface Running {
  onOutput: (fd: 1 | 2, data: Buffer) => void;
  acked: boolean;
  timedOut: boolean;
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
  timers: NodeJS.Timeout[];
  /** Stdin chunks not yet sent, each at most STDIN_CHUNK bytes. */
  queue: Buffer[];
  queued: number;
  /** I lines sent and not yet credited. */
  inFlight: number;
  ending: boolean;
  ended: boolean;
  drainWaiters: (() => void)[];
  /** On a pseudo-terminal: the end of stdin is typed (Ctrl-D), never sent as E. */
  tty: boolean;
}

/** A request waiting for the agent's answer (a pong, or an identity frame's errno). */
interface Waiter {
  done(errno: number): void;
  fail(e: Error): void;
}

export class AgentChannel {
  /** The agent said hello. */
  ready = false;
  /** The protocol version the agent announced. */
  version: number | undefined;
  private nextId = 1;
  private readonly running = new Map<number, Running>();
  private readonly pings = new Map<number, Waiter>();
  private readonly identities = new Map<number, Waiter>();
  /** Called when an exec is sent and when its end is reported (phase timings, src/vm/phases.ts). */
  onExec: ((event: "sent" | "ended", id: number) => void) | undefined;
  /**
   * Called when a line has settled a request (an exec's end, a pong, an identity answer): the
   * line arrives while the guest runs, and the caller's answer goes out only once the run loop
   * gives the event loop its turn (Machine.serveHost asks for it at once).
   */
  onAnswer: (() => void) | undefined;
  private readyWaiters: (() => void)[] = [];
  private readonly lines = new LineSplitter((l) => this.onLine(l));

  constructor(
    private readonly port: ConsolePort,
    private readonly vmName: string,
  ) {
    port.onOutput = (b) => this.lines.push(b);
  }

  /**
   * What a restored VM's channel needs to talk to the agent that was already up: it said hello
   * before the snapshot and will not again; ids continue, so none collides with an exec the
   * guest was still running then (its lines are ignored: no one waits for that id here).
   */
  saveState(): { ready: boolean; version: number | null; nextId: number } {
    return { ready: this.ready, version: this.version ?? null, nextId: this.nextId };
  }
  restoreState(s: { ready: boolean; version: number | null; nextId: number }): void {
    this.ready = s.ready;
    this.version = s.version ?? undefined;
    this.nextId = s.nextId;
    if (this.ready) for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Resolves when the agent is up (or at once if it is). */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  exec(req: ExecRequest, onOutput: (fd: 1 | 2, data: Buffer) => void): ExecHandle {
    if (this.version === undefined || this.version < MIN_AGENT_VERSION || this.version > AGENT_VERSION) {
      throw new VmError(
        "AGENT_VERSION",
        `the guest agent of VM '${this.vmName}' speaks protocol ${String(this.version)}, this corral needs ${MIN_AGENT_VERSION} to ${AGENT_VERSION}: restart the VM with the default image ('corral stop ${this.vmName}', then 'corral run -d')`,
      );
    }
    const id = this.nextId++;
    const tty = req.tty;
    // A terminal always has a stdin: it carries what is typed, and Ctrl-D stands for its end.
    const stdin = req.stdin === true || tty !== undefined;
    // Built before anything is registered: a request no frame can carry (BAD_EXEC) leaves nothing behind.
    const frame = execFrame(id, req, stdin, tty);
    let r!: Running;
    const done = new Promise<ExecResult>((resolve, reject) => {
      r = {
        onOutput,
        acked: false,
        timedOut: false,
        resolve,
        reject,
        timers: [],
        queue: [],
        queued: 0,
        inFlight: 0,
        ending: false,
        ended: !stdin,
        drainWaiters: [],
        tty: tty !== undefined,
      };
      this.running.set(id, r);
      r.timers.push(
        setTimeout(() => {
          if (r.acked) return;
          this.finish(id);
          reject(
            new VmError(
              "AGENT_TIMEOUT",
              `the guest agent of VM '${this.vmName}' did not answer within ${AGENT_ACK_MS / 1000} s: the guest may be hung or out of memory; 'corral console ${this.vmName}' shows it`,
            ),
          );
        }, AGENT_ACK_MS),
      );
      if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
        r.timers.push(
          setTimeout(() => {
            r.timedOut = true;
            this.kill(id);
            // The kill is carried out by the guest's agent; a guest too loaded to do it (a fork
            // bomb leaves it unable to fork) must not keep the caller waiting past its timeout.
            r.timers.push(
              setTimeout(() => {
                if (this.finish(id)) resolve({ exitCode: 137, timedOut: true, unconfirmed: true });
              }, KILL_CONFIRM_MS),
            );
          }, req.timeoutMs),
        );
      }
    });
    this.send(frame);
    this.onExec?.("sent", id);
    const live = (): boolean => this.running.get(id) === r;
    return {
      id,
      done,
      write: (data) => {
        if (!live() || r.ending || data.length === 0) return true;
        for (let at = 0; at < data.length; at += STDIN_CHUNK)
          this.enqueue(r, Buffer.from(data.subarray(at, at + STDIN_CHUNK)));
        this.pump(id, r);
        return r.queued < STDIN_HIGH_WATER;
      },
      drained: () =>
        !live() || r.queued < STDIN_HIGH_WATER ? Promise.resolve() : new Promise((res) => r.drainWaiters.push(res)),
      end: () => {
        if (!live() || r.ending) return;
        if (tty) this.enqueue(r, Buffer.from(VEOF));
        r.ending = true;
        this.pump(id, r);
      },
      resize: (size) => {
        if (tty && live()) this.send(resizeFrame(id, size));
      },
    };
  }

  /** SIGKILL the process group of exec `id` in the guest. */
  kill(id: number): void {
    if (this.running.has(id)) this.send(killFrame(id));
  }

  /** Round trip to the agent; rejects with AGENT_TIMEOUT. */
  ping(timeoutMs = AGENT_ACK_MS): Promise<void> {
    const id = this.nextId++;
    return this.answer(this.pings, id, pingFrame(id), timeoutMs, "answer a ping").then(() => {});
  }

  /** The agent sets the guest's clock and hostname itself (T frame): it speaks IDENTITY_VERSION or later. */
  get setsIdentity(): boolean {
    return this.version !== undefined && this.version >= IDENTITY_VERSION && this.version <= AGENT_VERSION;
  }

  /**
   * Set the guest's wall clock and hostname through the agent (T frame), no guest process
   * started; rejects with AGENT_VERSION when the agent is older (check setsIdentity), with
   * AGENT_TIMEOUT, or with IDENTITY_FAILED and the guest's errno.
   */
  async setIdentity(s: GuestIdentity, timeoutMs = AGENT_ACK_MS): Promise<void> {
    if (!this.setsIdentity)
      throw new VmError(
        "AGENT_VERSION",
        `the guest agent of VM '${this.vmName}' cannot set the clock (protocol ${String(this.version)})`,
      );
    const id = this.nextId++;
    const errno = await this.answer(this.identities, id, identityFrame(id, s), timeoutMs, "set the clock");
    if (errno !== 0)
      throw new VmError(
        "IDENTITY_FAILED",
        `the guest agent of VM '${this.vmName}' could not set the clock or hostname (errno ${errno})`,
      );
  }

  /**
   * Send `frame` (request `id`) and wait in `waiting` for its answer (an errno, 0 for a pong);
   * rejects with AGENT_TIMEOUT after `timeoutMs`, saying the agent did not `what`.
   */
  private answer(
    waiting: Map<number, Waiter>,
    id: number,
    frame: string,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        waiting.delete(id);
        reject(
          new VmError(
            "AGENT_TIMEOUT",
            `the guest agent of VM '${this.vmName}' did not ${what} within ${timeoutMs / 1000} s`,
          ),
        );
      }, timeoutMs);
      waiting.set(id, {
        done: (errno) => {
          clearTimeout(t);
          resolve(errno);
        },
        fail: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.send(frame);
    });
  }

  /** Ask the guest to sync and power off. */
  shutdown(): void {
    this.send(SHUTDOWN_FRAME);
  }

  /** The VM is gone: fail what is still running. */
  close(reason: string): void {
    for (const [id, r] of this.running) {
      this.finish(id);
      r.reject(new VmError("VM_NOT_RUNNING", reason));
    }
    for (const w of this.identities.values()) w.fail(new VmError("VM_NOT_RUNNING", reason));
    this.identities.clear();
  }

  /** Fail the execs the agent acknowledged: a new agent said hello, so they ended with the old one. */
  private failAcked(): void {
    for (const [id, r] of this.running) {
      if (!r.acked) continue;
      this.finish(id);
      r.reject(
        new VmError(
          "AGENT_RESTARTED",
          `the guest agent of VM '${this.vmName}' ended and was restarted while the command ran (killed, or the guest ran out of memory), so its outcome is unknown: run it again, and 'corral console ${this.vmName}' shows why`,
        ),
      );
      this.onAnswer?.();
    }
  }

  private send(frame: string | Buffer): void {
    this.port.write(typeof frame === "string" ? Buffer.from(frame, "latin1") : frame);
  }

  private enqueue(r: Running, chunk: Buffer): void {
    r.queue.push(chunk);
    r.queued += chunk.length;
  }

  /** Send queued stdin while the guest has credit for it; E once everything is out. */
  private pump(id: number, r: Running): void {
    while (r.inFlight < STDIN_WINDOW && r.queue.length > 0) {
      const chunk = r.queue.shift()!;
      r.queued -= chunk.length;
      r.inFlight++;
      for (const f of stdinFrames(id, chunk)) this.send(f);
    }
    if (r.queued < STDIN_HIGH_WATER) for (const w of r.drainWaiters.splice(0)) w();
    // With a terminal the agent keeps it open until the command ends: only Ctrl-D was queued.
    if (r.ending && !r.ended && r.queue.length === 0 && !r.tty) {
      r.ended = true;
      this.send(eofFrame(id));
    }
  }

  private finish(id: number): Running | undefined {
    const r = this.running.get(id);
    if (!r) return undefined;
    for (const t of r.timers) clearTimeout(t);
    this.running.delete(id);
    r.queue = [];
    r.queued = 0;
    for (const w of r.drainWaiters.splice(0)) w();
    return r;
  }

  /** Answer request `id` of `waiting` with `errno`, if someone waits for it. */
  private settle(waiting: Map<number, Waiter>, id: number, errno: number): void {
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    w.done(errno);
    this.onAnswer?.();
  }

  private onLine(line: string): void {
    const m: AgentMessage | undefined = parseAgentLine(line);
    if (!m) return;
    switch (m.kind) {
      case "hello":
        // A hello after the first comes from a new agent: init restarts one that ended (killed,
        // or out of memory; src/image/init-script.ts). What the old one acknowledged died with it:
        // its exit line will never come. An exec not yet acknowledged may be the new agent's
        // (it acknowledges after its hello), or is left to AGENT_ACK_MS.
        if (this.ready) this.failAcked();
        this.ready = true;
        this.version = m.version;
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case "ack": {
        const r = this.running.get(m.id);
        if (r) r.acked = true;
        return;
      }
      case "credit": {
        const r = this.running.get(m.id);
        if (r) {
          r.inFlight = Math.max(0, r.inFlight - 1);
          this.pump(m.id, r);
        }
        return;
      }
      case "output":
        this.running.get(m.id)?.onOutput(m.fd, m.data);
        return;
      case "exit": {
        const r = this.finish(m.id);
        if (r) this.onExec?.("ended", m.id);
        r?.resolve({ exitCode: m.status, timedOut: r.timedOut });
        if (r) this.onAnswer?.();
        return;
      }
      case "identity":
        this.settle(this.identities, m.id, m.errno);
        return;
      case "pong":
        this.settle(this.pings, m.id, 0);
        return;
    }
  }
}
