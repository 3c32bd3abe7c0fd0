/**
 * Node's built-in modules that a VM's start (`corral run`, the VM process) does not use, loaded
 * on first use rather than when the module that names them loads: each costs 1 to 3 ms of CPU
 * to load, and more once a V8 flag has changed (src/code-cache.ts), and the image, disk and
 * profile code that calls them is in every bundle (docs/benchmarks.md, "Start-up of corral run").
 * Synchronous, as the calls they replace are.
 */
import { createRequire } from "node:module";

/** Made on first use too: createRequire resolves this file's module paths (a few ms of a start). */
let require: NodeJS.Require | undefined;
const load = (id: string): unknown => (require ??= createRequire(import.meta.url))(id);

export const nodeCrypto = (): typeof import("node:crypto") => load("node:crypto") as typeof import("node:crypto");
export const childProcess = (): typeof import("node:child_process") =>
  load("node:child_process") as typeof import("node:child_process");
