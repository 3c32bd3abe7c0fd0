/**
 * The entry of `corral run`'s own bundle (scripts/bundle.mjs: dist/bundle/run.cjs): the interface
 * of main.ts (cliMain, reportError) for the one verb whose start-up a user waits on most, without
 * the other verbs' modules. The whole CLI's bundle is 860 KB, this one 620 KB: every start reads,
 * decodes and holds less source and a smaller code cache, about 200 fewer fresh pages (each a page
 * fault, 15 to 40 us on these machines) and 5 ms less CPU (docs/benchmarks.md, "Start-up: a
 * launcher that is not Node"). bin/corral.js picks it when the verb is `run`.
 */
export { reportError } from "./report.js";

/** `corral run ARGS`: argv as main.ts cliMain takes it, the verb first. */
export async function cliMain(argv: string[]): Promise<number> {
  if (argv[0] !== "run") throw new Error(`run.cjs serves 'corral run' only, not '${String(argv[0])}'`);
  const { main } = await import("./run.js");
  return main(argv.slice(1));
}
