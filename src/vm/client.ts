/**
 * A client of one VM's control socket (server.ts). Every call first checks that the VM is
 * running, so a stopped or crashed VM gives VM_NOT_RUNNING rather than a socket error.
 */
import { request, type IncomingMessage } from "node:http";
import { join } from "node:path";
import type { Socket } from "node:net";
import { CorralError } from "../errors.js";
import { CONSOLE_UPGRADE, type ExecBody } from "./server.js";
import { VM_FILES, requireVm, vmDir, type VmRecord } from "./state.js";

export interface VmInfo extends VmRecord {
  state: "booting" | "running" | "stopping";
  uptimeMs: number;
}

export interface MemoryInfo {
  memory: number;
  targetBytes: number;
  balloonPages: number;
  guestTotal?: number;
  guestAvailable?: number;
  hostResident: number;
  /** Bytes of guest RAM handed back to the host kernel (madvise) since boot. */
  releasedBytes: number;
}

export interface ExecOutcome {
  exitCode: number;
  timedOut: boolean;
}

interface ApiError {
  error?: { code: string; message: string };
}

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
      const req = request({ socketPath: this.socket, method, path, headers: { "content-type": "application/json" } }, resolve);
      req.on("error", (e) => reject(new CorralError("VM_NOT_RUNNING", `VM '${this.name}' does not answer on its control socket (${e.message}): it may be stopping`)));
      req.end(payload === undefined ? undefined : JSON.stringify(payload));
    });
  }

  private async jsonCall<T>(method: string, path: string, payload?: unknown): Promise<T> {
    const res = await this.call(method, path, payload);
    const parts: Buffer[] = [];
    for await (const c of res) parts.push(c as Buffer);
    const v = JSON.parse(Buffer.concat(parts).toString("utf8")) as T & ApiError;
    if (v.error) throw new CorralError(v.error.code, v.error.message);
    return v;
  }

  info(): Promise<VmInfo> {
    return this.jsonCall<VmInfo>("GET", "/vm");
  }

  memory(): Promise<MemoryInfo> {
    return this.jsonCall<MemoryInfo>("GET", "/memory");
  }

  setMemory(bytes: number): Promise<MemoryInfo> {
    return this.jsonCall<MemoryInfo>("PUT", "/memory", { bytes });
  }

  async requestStop(timeoutMs: number): Promise<void> {
    await this.jsonCall("POST", "/stop", { timeoutMs });
  }

  /** Run a command; output is streamed to `onOutput` as it arrives. */
  async exec(body: ExecBody, onOutput: (fd: 1 | 2, data: Buffer) => void): Promise<ExecOutcome> {
    const res = await this.call("POST", "/exec", body);
    let buf = "";
    let result: ExecOutcome | undefined;
    let error: { code: string; message: string } | undefined;
    const line = (l: string): void => {
      if (!l) return;
      const v = JSON.parse(l) as { fd?: 1 | 2; data?: string; exitCode?: number; timedOut?: boolean } & ApiError;
      if (v.error) error = v.error;
      else if (v.fd !== undefined && v.data !== undefined) onOutput(v.fd, Buffer.from(v.data, "base64"));
      else if (v.exitCode !== undefined) result = { exitCode: v.exitCode, timedOut: v.timedOut === true };
    };
    for await (const c of res) {
      buf += (c as Buffer).toString("utf8");
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    line(buf.trim());
    if (error) throw new CorralError(error.code, error.message);
    if (!result) throw new CorralError("VM_NOT_RUNNING", `VM '${this.name}' stopped before the command finished`);
    return result;
  }

  /** The serial console as a raw byte stream (HTTP upgrade). */
  console(): Promise<Socket> {
    this.record();
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, path: "/console", headers: { connection: "Upgrade", upgrade: CONSOLE_UPGRADE } });
      req.on("upgrade", (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket as Socket);
      });
      req.on("response", (res) => reject(new CorralError("CONSOLE_REFUSED", `VM '${this.name}' refused the console (HTTP ${res.statusCode ?? 0})`)));
      req.on("error", (e) => reject(new CorralError("VM_NOT_RUNNING", `VM '${this.name}' does not answer on its control socket (${e.message})`)));
      req.end();
    });
  }
}
