/**
 * How a program with a bundled form (scripts/bundle.mjs: the CLI, the VM process) starts.
 *
 * Which file: the bundle when `npm run build` made it after tsc last wrote the entry, else tsc's
 * own file. tsc rewrites every file it emits, so a bare `npx tsc` after a change makes the bundle
 * stale and this picks tsc's output: a stale bundle never runs.
 *
 * How a bundle runs: it is one CommonJS file, compiled here as a vm.Script with V8's code cache
 * (code-cache.ts), so that a start after the first compiles none of the functions it ran before.
 * Node 20's ESM loader would instead resolve, read and compile it, and give V8 no cache.
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import { cacheKey, cachePath, readCache, withCacheFlags, writeCache, type CacheOutcome } from "./code-cache.js";
import { corralHome } from "./home.js";

export function entryFile(bundled: URL, compiled: URL): URL {
  try {
    return statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs ? bundled : compiled;
  } catch {
    return compiled;
  }
}

/** $CORRAL_CODE_CACHE=0 runs bundles without the cache (and writes none). */
export const CODE_CACHE_ENV = "CORRAL_CODE_CACHE";
/** $CORRAL_DEBUG_CODE_CACHE=1: one line on stderr saying what the cache did (code-cache.ts CacheOutcome). */
export const CODE_CACHE_DEBUG_ENV = "CORRAL_DEBUG_CODE_CACHE";
/**
 * A process that runs this long writes its cache then, not at its exit: what it compiled to
 * start is in, and bytecode V8 dropped later, from functions that ran only at the start, is not missed.
 */
const WRITE_AFTER_MS = 2000;
/**
 * A bundle runs inside this function, as Node's own CommonJS wrapper, plus the bundle's URL
 * (scripts/bundle.mjs writes each module's import.meta.url relative to it); strict, as the ES
 * modules it was bundled from are.
 */
export const WRAPPER_HEAD =
  '(function (exports, require, module, __filename, __dirname, __corral_bundle_url) {"use strict";';
/** The end of the wrapper. */
export const WRAPPER_TAIL = "})";

/**
 * The source V8 compiles for bundle bytes `source`: the bytes themselves when scripts/bundle.mjs
 * wrote the wrapper into the file (its head on the first line, its tail on the last), else
 * wrapped here. A wrapper added here is a second copy of the whole source (V8 flattens the
 * concatenation before it compiles), and each fresh page of memory is a page fault, which costs
 * 15 to 40 us on a virtual machine whose host backs its memory lazily: about 200 of them for an
 * 850 KB bundle (docs/benchmarks.md, "Start-up, seventeenth session").
 */
export function wrappedSource(source: Buffer): { text: string; lineOffset: number } {
  const head = `${WRAPPER_HEAD}\n`;
  const tail = `\n${WRAPPER_TAIL}\n`;
  if (
    source.length > head.length + tail.length &&
    source.toString("latin1", 0, head.length) === head &&
    source.toString("latin1", source.length - tail.length) === tail
  )
    return { text: source.toString("utf8"), lineOffset: 0 };
  // The head on a line of its own: line numbers in stacks are the bundle file's own.
  return { text: `${head}${source.toString("utf8")}\n${WRAPPER_TAIL}`, lineOffset: -1 };
}

/**
 * Load the built-in modules that a VM's start uses after src/cpu/wasm/hw-fma.ts has changed a V8
 * flag (when its module loads): Node refuses its own code cache for every built-in module loaded
 * after a flag changed, and compiles it from source (about 1.5 M instructions each: a tenth of
 * `corral run`'s start went there). Loaded before, they come from Node's cache. The bundle loads
 * each of them anyway: the hart threads' module, the user-mode NIC (TCP, UDP), the run loop's
 * clock (the global `performance`), the argument parser (util.parseArgs, loaded on first use).
 */
function preloadBuiltins(load: NodeJS.Require): void {
  for (const m of ["node:worker_threads", "node:net", "node:dgram", "node:perf_hooks"]) load(m);
  void (load("node:util") as typeof import("node:util")).parseArgs;
}

/**
 * Run the CommonJS bundle `file` in this context and return its exports. `variant` names the
 * cache among those of the same bundle (the CLI's verb: each verb runs other code). The cache is
 * written once the process has run WRITE_AFTER_MS, or at its exit with status 0, if it was not a hit.
 */
export function loadBundle(file: URL, variant = "main"): Record<string, unknown> {
  const path = fileURLToPath(file);
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.[^.]*$/, "");
  const off = process.env[CODE_CACHE_ENV] === "0";
  // The key names the file the source was read from, as it was before and after the read (a
  // build writing it meanwhile: no cache this time).
  const fd = openSync(path, "r");
  let source: Buffer;
  let key: string | undefined;
  try {
    const before = fstatSync(fd, { bigint: true });
    source = readFileSync(fd);
    const after = fstatSync(fd, { bigint: true });
    if (!off && before.ctimeNs === after.ctimeNs && before.size === after.size) key = cacheKey(path, after);
  } finally {
    closeSync(fd);
  }
  const cacheFile = key && cachePath(join(corralHome(), "code-cache"), name, variant.replace(/[^a-z]/g, ""), key);
  const cached = cacheFile && key ? readCache(cacheFile, key) : "miss";
  const { text, lineOffset } = wrappedSource(source);
  const script = withCacheFlags(
    () =>
      new Script(text, {
        filename: path,
        lineOffset,
        ...(typeof cached === "object" ? { cachedData: cached } : {}),
      }),
  );
  const outcome: CacheOutcome = off
    ? "off"
    : typeof cached === "object"
      ? script.cachedDataRejected === true
        ? "rejected"
        : "hit"
      : cached;
  if (process.env[CODE_CACHE_DEBUG_ENV] === "1")
    process.stderr.write(`corral: code cache ${outcome} (${name}, ${variant})\n`);
  if (cacheFile && key && outcome !== "hit") {
    let written = false;
    const write = (): void => {
      if (written) return;
      written = true;
      const ok = writeCache(
        cacheFile,
        key,
        withCacheFlags(() => script.createCachedData()),
      );
      if (process.env[CODE_CACHE_DEBUG_ENV] === "1" && ok) process.stderr.write(`corral: code cache written\n`);
    };
    setTimeout(write, WRITE_AFTER_MS).unref();
    process.once("exit", (code) => {
      if (code === 0) write();
    });
  }
  const load = createRequire(path);
  preloadBuiltins(load);
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, load, module, path, dirname(path), file.href);
  return module.exports;
}
