/**
 * Which file runs a program with a bundled form (scripts/bundle.mjs: the CLI, the VM process):
 * the bundle when `npm run build` made it after tsc last wrote the entry, else tsc's own file.
 * tsc rewrites every file it emits, so a bare `npx tsc` after a change makes the bundle stale
 * and this picks tsc's output: a stale bundle never runs.
 */
import { statSync } from "node:fs";

export function entryFile(bundled: URL, compiled: URL): URL {
  try {
    return statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs ? bundled : compiled;
  } catch {
    return compiled;
  }
}
