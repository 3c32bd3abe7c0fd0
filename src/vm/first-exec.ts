/**
 * A first command sent with a pool process's claim (pool.ts PoolClaim.first; issue 16 item 6): the
 * VM process sends it to the agent the moment the VM it became runs, right behind the T frame that
 * sets its clock and hostname (daemon.ts resync), and answers its outcome on the claim's own
 * connection. The caller's first exec then needs no HTTP request to a process whose thread the
 * guest shares, and none of that request's parsing sits between the restore and the command.
 * Without a pool process (or an agent of another version) the caller runs it as any exec.
 *
 * Output is kept whole (no streaming to the caller) up to `maxOutputBytes` a stream; past it the
 * command is killed, as an API exec does (src/api/index.ts ExecOptions.maxOutputBytes).
 */
import type { AgentChannel } from "./agent/channel.js";
import { isCorralError } from "../errors.js";
import { DEFAULT_MAX_OUTPUT, OutputCap } from "./agent/output-cap.js";

/** The command: argv and what an API exec without stdin or a terminal takes. */
export interface FirstExec {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Most bytes kept of each stream; the command is killed past it (default 16 MiB). */
  maxOutputBytes?: number;
}

/** Its outcome, one JSON line on the claim's connection: output base64, or why it did not run. */
export type FirstExecResult =
  | {
      exitCode: number;
      timedOut: boolean;
      stdout: string;
      stderr: string;
      /** The stream that went past maxOutputBytes (the command was killed). */
      limit?: "stdout" | "stderr";
    }
  | { error: { code: string; message: string } };

/** A FirstExec from the untrusted line a claim carried, or undefined when it is not one. */
export function checkFirstExec(v: unknown): FirstExec | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const f = v as Partial<FirstExec>;
  if (!Array.isArray(f.argv) || f.argv.length === 0 || !f.argv.every((a) => typeof a === "string")) return undefined;
  const out: FirstExec = { argv: f.argv };
  if (f.env !== undefined && typeof f.env === "object" && f.env !== null) out.env = f.env;
  if (typeof f.cwd === "string") out.cwd = f.cwd;
  if (typeof f.timeoutMs === "number" && f.timeoutMs > 0) out.timeoutMs = f.timeoutMs;
  if (typeof f.maxOutputBytes === "number" && f.maxOutputBytes >= 0) out.maxOutputBytes = f.maxOutputBytes;
  return out;
}

/** Run `f` through `agent` (already up) and collect its outcome. */
export async function runFirstExec(agent: AgentChannel, f: FirstExec): Promise<FirstExecResult> {
  const cap = new OutputCap(f.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
  try {
    const h = agent.exec(
      {
        argv: f.argv,
        ...(f.env ? { env: f.env } : {}),
        ...(f.cwd !== undefined ? { cwd: f.cwd } : {}),
        ...(f.timeoutMs !== undefined ? { timeoutMs: f.timeoutMs } : {}),
      },
      (fd, data) => {
        const wasOver = cap.over;
        cap.add(fd, data);
        if (cap.over !== undefined && wasOver === undefined) agent.kill(h.id);
      },
    );
    const r = await h.done;
    return {
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      stdout: cap.bytes(1).toString("base64"),
      stderr: cap.bytes(2).toString("base64"),
      ...(cap.over !== undefined ? { limit: cap.over } : {}),
    };
  } catch (e) {
    return {
      error: { code: isCorralError(e) ? e.code : "EXEC_FAILED", message: e instanceof Error ? e.message : String(e) },
    };
  }
}
