import { spawn } from "node:child_process";
import type { Hook } from "../spec/types.js";
import type { OciState } from "./state.js";
import { ContainerError } from "../errors.js";

/**
 * Run OCI hooks (config.md "POSIX-platform Hooks"): each gets the container state on stdin;
 * a failing or timed-out hook fails the operation for the create/start stages, and only warns
 * for poststart/poststop (the spec says those errors are logged and ignored).
 */
export async function runHooks(
  stage: string,
  hooks: Hook[],
  state: OciState,
  fatal: boolean,
  warn: (m: string) => void,
): Promise<void> {
  for (const [i, h] of hooks.entries()) {
    try {
      await runOne(h, state);
    } catch (e) {
      const msg = `hooks.${stage}[${i}] (${h.path}) failed: ${(e as Error).message}`;
      if (fatal) throw new ContainerError("OCI_HOOK_FAILED", `${msg}; fix or remove the hook`, { cause: e });
      warn(msg);
    }
  }
}

function runOne(h: Hook, state: OciState): Promise<void> {
  return new Promise((resolve, reject) => {
    const [argv0, ...args] = h.args.length > 0 ? h.args : [h.path];
    const child = spawn(h.path, args, {
      argv0: argv0 ?? h.path,
      env: Object.fromEntries(h.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
      stdio: ["pipe", "inherit", "inherit"],
    });
    let timer: NodeJS.Timeout | undefined;
    if (h.timeout)
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`timed out after ${h.timeout} s`));
      }, h.timeout * 1000);
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, sig) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(sig ? `killed by ${sig}` : `exit status ${code}`));
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(JSON.stringify(state));
  });
}
