/**
 * What an interrupted bench must undo, in one place. A bench registers each thing it makes that
 * outlives its process (a detached VM, a pool, a QEMU child, a temporary directory, host settings)
 * with `onInterrupt`, and releases it once its own `finally` has undone it. main.ts installs the
 * one SIGINT/SIGTERM handler (`exitOnInterrupt`): it runs what is registered, newest first, then
 * stops every VM this bench process named (`bench-<what>-<pid>`, and the clones and restores named
 * after one), also those whose start was under way when the signal came, and exits 128+signal.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopVm } from "../vm/launch.js";
import { vmActivity, vmDir, vmsRoot } from "../vm/state.js";

type Cleanup = () => unknown;

const registry = new Set<Cleanup>();

/** Run `fn` if the bench is interrupted; the returned function unregisters it. */
export function onInterrupt(fn: Cleanup): () => void {
  registry.add(fn);
  return () => void registry.delete(fn);
}

/** Kill `child` (SIGKILL) if the bench is interrupted before it has exited. */
export function killOnInterrupt(child: ChildProcess): void {
  const release = onInterrupt(() => void child.kill("SIGKILL"));
  child.once("exit", release);
}

/**
 * A new temporary directory (mkdtemp of `base`/`prefix`), removed if the bench is interrupted;
 * the bench removes it itself when it ends (removing it twice is harmless).
 */
export function tempDir(prefix: string, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Whether `name` is a VM of bench process `pid`: the benches name theirs `bench-WHAT-PID` (WHAT in
 * lower-case words: exec, snap, sriov-a), and a clone or restore of one is named after it.
 */
export function isBenchVm(name: string, pid = process.pid): boolean {
  return new RegExp(`^bench-[a-z]+(-[a-z]+)*-${pid}(-|$)`).test(name);
}

/**
 * Stop every VM of bench process `pid` and remove their directories. A VM whose start is under
 * way (its name claimed, its process not yet recorded) is waited for, at most a minute, then
 * stopped too: an interrupt during Corral.start must not leave it booting on its own.
 */
export async function stopBenchVms(pid = process.pid, home?: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const root = vmsRoot(home);
    const names = existsSync(root) ? readdirSync(root).filter((n) => isBenchVm(n, pid)) : [];
    const activity = names.map((n) => ({ name: n, now: vmActivity(n, home) }));
    await Promise.all(
      activity.filter((v) => v.now === "running").map((v) => stopVm(v.name, { home, timeoutMs: 3000 }).catch(() => {})),
    );
    if (activity.every((v) => v.now !== "starting")) {
      for (const v of names) rmSync(vmDir(v, home), { recursive: true, force: true });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Run every registered cleanup, newest first, each once; one that fails does not stop the rest. */
export async function runCleanups(): Promise<void> {
  const all = [...registry].reverse();
  registry.clear();
  for (const fn of all) {
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`bench: a cleanup failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  await stopBenchVms();
}

/** Install the one handler: on SIGINT or SIGTERM, clean up and exit 128+signal (a second signal exits at once). */
export function exitOnInterrupt(): void {
  let cleaning = false;
  const on = (signal: "SIGINT" | "SIGTERM", status: number) => (): void => {
    if (cleaning) process.exit(status);
    cleaning = true;
    process.stderr.write(`bench: ${signal}: stopping what the benchmarks started\n`);
    void runCleanups().finally(() => process.exit(status));
  };
  process.on("SIGINT", on("SIGINT", 130));
  process.on("SIGTERM", on("SIGTERM", 143));
}
