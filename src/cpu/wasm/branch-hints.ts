/**
 * Branch hints in V8: the wasm tier marks its slow paths (a page-cache or TLB miss, the budget
 * and stop-slot exits) unlikely and the fast paths likely (encoder.ts Hint), in the custom
 * section of the WebAssembly branch-hinting proposal. V8's optimizing compiler then lays the
 * unlikely side out as deferred code after the hot path and spills values that live across a
 * service call only on the path that makes it: the CPU-bound program's loop ran 8 to 11 % faster
 * (docs/benchmarks.md, "The compiled loop, fourteenth session"). Node 20's V8 (11.3) reads the
 * section only under --experimental-wasm-branch-hinting (on by default in later V8s); without
 * it the section is skipped, so a module is the same code with or without the flag.
 *
 * The flag is set here, when the module loads, before any module is compiled (V8 reads it when
 * it decodes a module). V8's flags are the process's, not an isolate's: a hart's worker thread
 * (machine/threads/) compiles under it too. It is one of src/code-cache.ts RUNTIME_V8_FLAGS.
 * CORRAL_BRANCH_HINTS=0 leaves it off (to measure what the hints are worth).
 */
import { setFlagsFromString } from "node:v8";

export const BRANCH_HINT_FLAG = "experimental-wasm-branch-hinting";

function enable(): boolean {
  setFlagsFromString(`--${BRANCH_HINT_FLAG}`);
  return true;
}

/** Whether V8 reads the tier's branch hints in this process. */
export const BRANCH_HINTS = process.env["CORRAL_BRANCH_HINTS"] !== "0" && enable();
