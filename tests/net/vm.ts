// Helpers for the networking end-to-end tests: `corral run` processes, run to completion or
// watched while they start, and polling for host-side state.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Vm {
  child: ChildProcess;
  done: Promise<Finished>;
}

/** Start `corral run ARGS` (optionally through a prefix such as `ip netns exec NS`). */
export function startVm(args: string[], prefix: string[] = []): Vm {
  const argv = [...prefix, process.execPath, CORRAL, "run", ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/** Poll until check() is truthy (no timing assertion: the test's own timeout bounds it). */
export async function until<T>(check: () => T | undefined | false, what: string, maxMs = 120_000): Promise<T> {
  const end = Date.now() + maxMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
