#!/usr/bin/env node
// Bundles the two programs whose start-up a user waits for, the `corral` CLI (dist/src/cli/main.js)
// and the VM process (dist/src/vm/daemon.js), from tsc's output into dist/bundle/ (run by
// `npm run build`, after tsc). Node 20's ESM loader spends about 1.5 ms of CPU per module file it
// resolves, reads, compiles and links: `corral run` reached 250 files (Zod's 95 among them), so
// start-up cost more than the issue 15 base did (docs/benchmarks.md, "no slowdown"). Each program
// is one CommonJS file (main.cjs, daemon.cjs; run.cjs is `corral run` alone) that src/entry.ts
// compiles with V8's code cache (src/code-cache.ts), so that a start after the first compiles nothing it ran before; modules a
// verb or device loads lazily (import()) stay lazy: they are evaluated on first use, and V8 only
// pre-parses the functions that never run. Tree-shaking keeps only the parts of Zod the spec uses.
//
// Every module keeps its own import.meta.url (the file tsc wrote), so paths found from it (the
// native helpers, the guest agent, the disk writer's worker, koffi through createRequire) are the
// same bundled or not. bin/corral.js and src/vm/launch.ts use a bundle only when it is newer than
// its entry (src/entry.ts): after a bare `npx tsc` they run tsc's files, never a stale bundle.
import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bundle");

/** import.meta.url of each bundled module, as the URL of the file it came from (relative to its chunk in outdir). */
const keepModuleUrls = {
  name: "keep-module-urls",
  setup(b) {
    b.onLoad({ filter: /\/dist\/src\/.*\.js$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta.url")) return { contents: text, loader: "js" };
      const rel = relative(outdir, args.path).split("\\").join("/");
      return {
        // src/entry.ts passes the bundle's own URL to its wrapper as __corral_bundle_url.
        contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, __corral_bundle_url).href`),
        loader: "js",
      };
    });
  },
};

// The wrapper src/entry.ts compiles a bundle in, written into the file itself: V8 then gets the
// file's text as it is, not a second copy with the wrapper around it (entry.ts wrappedSource).
const { WRAPPER_HEAD, WRAPPER_TAIL } = await import("../dist/src/entry.js");

await rm(outdir, { recursive: true, force: true });
// A tree whose node_modules predates esbuild (a devDependency since this script): one line, and
// the programs run from tsc's files, as after a bare tsc (slower to start, nothing else differs).
let build;
try {
  ({ build } = await import("esbuild"));
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
  console.error("bundle: esbuild is not installed (run 'npm ci'): corral starts from tsc's files, slower");
  process.exit(0);
}
// What both builds below share: CommonJS files for Node 20, named .cjs, whitespace minified.
const common = {
  absWorkingDir: root,
  outdir,
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minifyWhitespace: true,
  legalComments: "none",
  charset: "ascii",
  logLevel: "warning",
};
const result = await build({
  ...common,
  // run: `corral run` alone (src/cli/run-main.ts), 70 % of the whole CLI's source: less to read,
  // decode and deserialize at every start of the verb a user waits on most.
  entryPoints: { main: "dist/src/cli/main.js", run: "dist/src/cli/run-main.js", daemon: "dist/src/vm/daemon.js" },
  // A native addon, loaded through createRequire from the module that uses it.
  external: ["koffi"],
  // Names and lines stay readable in a CORRAL_DEBUG stack; whitespace alone is most of the gain.
  minifySyntax: true,
  metafile: true,
  plugins: [keepModuleUrls],
  banner: { js: WRAPPER_HEAD },
  footer: { js: WRAPPER_TAIL },
});
if (result.errors.length > 0) process.exit(1);
// The loader that runs them, src/entry.ts (with the code cache's module and $CORRAL_HOME's), as
// one CommonJS file that bin/corral.js and the VM process's script require(): a CommonJS main
// that requires CommonJS starts without Node's ES module loader (about 25 ms of CPU: the loader's
// own modules, then resolving, reading and linking four modules; docs/benchmarks.md, "Start-up,
// seventeenth session").
const loader = await build({
  ...common,
  entryPoints: { entry: "dist/src/entry.js" },
  // Nothing in it may need import.meta: a CommonJS file has none (esbuild would make it {}).
  define: { "import.meta.url": "__corral_no_import_meta" },
});
if (loader.errors.length > 0) process.exit(1);
if ((await readFile(join(outdir, "entry.cjs"), "utf8")).includes("__corral_no_import_meta")) {
  console.error("bundle: src/entry.ts (or a module it imports) uses import.meta.url: the CommonJS loader has none");
  process.exit(1);
}
// A vm.Script has no module loader behind it: an import() esbuild could not bundle would fail
// only when reached. Every one must be of a bundled module (esbuild turns those into calls).
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  const left = meta.imports.filter((i) => i.kind === "dynamic-import" && i.external);
  if (left.length > 0) {
    console.error(`bundle: ${out} keeps import() of ${left.map((i) => i.path).join(", ")}: bundle or require() them`);
    process.exit(1);
  }
}
// A hart's worker thread (src/machine/threads/hart-worker.ts, one per hart with CORRAL_THREADS=1)
// loads its 69 modules through the ESM loader again in each new isolate: about 50 ms of CPU a
// worker more than one ES module file (docs/benchmarks.md, "smp5"). One file, ES module (a
// Worker runs it by URL), each module keeping its import.meta.url as above; threads/run.ts takes it
// when it is newer than tsc's hart-worker.js (src/entry.ts entryFile), as the programs above are.
const worker = await build({
  ...common,
  entryPoints: { "hart-worker": "dist/src/machine/threads/hart-worker.js" },
  outExtension: { ".js": ".mjs" },
  format: "esm",
  external: ["koffi"],
  minifySyntax: true,
  plugins: [keepModuleUrls],
  banner: { js: "const __corral_bundle_url = import.meta.url;" },
});
if (worker.errors.length > 0) process.exit(1);
// The VM process is started as a script (src/vm/launch.ts): this one runs its bundle, CommonJS
// as bin/corral.js (this directory's package.json says so).
await writeFile(join(outdir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
await writeFile(
  join(outdir, "daemon.js"),
  `"use strict";\nrequire("./entry.cjs").loadBundle(require("node:url").pathToFileURL(require("node:path").join(__dirname, "daemon.cjs")), "daemon");\n`,
);
