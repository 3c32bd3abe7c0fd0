/**
 * Where Corral keeps what it caches and runs (images, VM records, the code cache): $CORRAL_HOME,
 * or ~/.cache/corral. Its own small module so that a program's entry (entry.ts) finds it without
 * loading the image cache's code.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export const HOME_ENV = "CORRAL_HOME";

/** $CORRAL_HOME, or ~/.cache/corral. */
export function corralHome(env: NodeJS.ProcessEnv = process.env): string {
  const h = env[HOME_ENV]?.trim();
  return h ? h : join(homedir(), ".cache", "corral");
}
