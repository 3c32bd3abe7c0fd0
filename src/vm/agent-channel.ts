/**
 * The host end of the guest agent (protocol.ts) on a virtio-console port: several execs at once,
 * each with its own id; output streamed to callbacks; a timeout kills the guest process group.
 */
import { CorralError } from "../errors.js";
import type { ConsolePort } from "../devices/virtio/console.js";
import { LineSplitter, execFrame, execScript, killFrame, parseAgentLine, pingFrame, stdinFrames, SHUTDOWN_FRAME, type AgentMessage } from "./protocol.js";

/** How long the agent may take to acknowledge a request before it counts as not answering. */
export const AGENT_ACK_MS = 15_000;

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  stdin?: Uint8Array;
  timeoutMs?: number;
}

export interface ExecResult {
  exitCode: number;
  timedOut: boolean;
}

interface Running {
  onOutput: (fd: 1 | 2, data: Buffer) => void;
  acked: boolean;
  timedOut: boolean;
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
  timers: NodeJS.Timeout[];
}

export class AgentChannel {
  /** The agent said hello. */
  ready = false;
  private nextId = 1;
  private readonly running = new Map<number, Running>();
  private readonly pings = new Map<number, () => void>();
  private readyWaiters: (() => void)[] = [];
  private readonly lines = new LineSplitter((l) => this.onLine(l));

  constructor(
    private readonly port: ConsolePort,
    private readonly vmName: string,
  ) {
    port.onOutput = (b) => this.lines.push(b);
  }

  /** Resolves when the agent is up (or at once if it is). */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  exec(req: ExecRequest, onOutput: (fd: 1 | 2, data: Buffer) => void): { id: number; done: Promise<ExecResult> } {
    const id = this.nextId++;
    const script = execScript(req.argv, req.env ?? {}, req.cwd);
    const done = new Promise<ExecResult>((resolve, reject) => {
      const r: Running = { onOutput, acked: false, timedOut: false, resolve, reject, timers: [] };
      this.running.set(id, r);
      r.timers.push(
        setTimeout(() => {
          if (r.acked) return;
          this.finish(id);
          reject(new CorralError("AGENT_TIMEOUT", `the guest agent of VM '${this.vmName}' did not answer within ${AGENT_ACK_MS / 1000} s: the guest may be hung or out of memory; 'corral console ${this.vmName}' shows it`));
        }, AGENT_ACK_MS),
      );
      if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
        r.timers.push(
          setTimeout(() => {
            r.timedOut = true;
            this.kill(id);
          }, req.timeoutMs),
        );
      }
    });
    this.send(execFrame(id, script, req.stdin !== undefined));
    if (req.stdin !== undefined) for (const f of stdinFrames(id, req.stdin)) this.send(f);
    return { id, done };
  }

  /** SIGKILL the process group of exec `id` in the guest. */
  kill(id: number): void {
    if (this.running.has(id)) this.send(killFrame(id));
  }

  /** Round trip to the agent; rejects with AGENT_TIMEOUT. */
  ping(timeoutMs = AGENT_ACK_MS): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pings.delete(id);
        reject(new CorralError("AGENT_TIMEOUT", `the guest agent of VM '${this.vmName}' did not answer a ping within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pings.set(id, () => {
        clearTimeout(t);
        resolve();
      });
      this.send(pingFrame(id));
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
      r.reject(new CorralError("VM_NOT_RUNNING", reason));
    }
  }

  private send(frame: string): void {
    this.port.write(Buffer.from(frame, "latin1"));
  }

  private finish(id: number): Running | undefined {
    const r = this.running.get(id);
    if (!r) return undefined;
    for (const t of r.timers) clearTimeout(t);
    this.running.delete(id);
    return r;
  }

  private onLine(line: string): void {
    const m: AgentMessage | undefined = parseAgentLine(line);
    if (!m) return;
    switch (m.kind) {
      case "hello":
        this.ready = true;
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case "ack": {
        const r = this.running.get(m.id);
        if (r) r.acked = true;
        return;
      }
      case "output":
        this.running.get(m.id)?.onOutput(m.fd, m.data);
        return;
      case "exit": {
        const r = this.finish(m.id);
        r?.resolve({ exitCode: m.status, timedOut: r.timedOut });
        return;
      }
      case "pong":
        this.pings.get(m.id)?.();
        this.pings.delete(m.id);
        return;
    }
  }
}
