#!/usr/bin/env node
"use strict";
// CommonJS (bin/package.json says so): Node runs a CommonJS main without starting its ES module
// loader, and this file requires the bundle's loader, dist/bundle/entry.cjs (scripts/bundle.mjs),
// rather than importing src/entry.ts's modules: about 25 ms of CPU less before the first guest
// instruction (docs/benchmarks.md, "Start-up, seventeenth session").
//
// The bundle (scripts/bundle.mjs) starts faster, with V8's code cache (src/entry.ts); tsc's files
// when it is missing or stale, and for `--profile`, whose host phases are told apart by the source
// file of each frame (src/profile/host.ts). "Stale" as src/entry.ts entryFile says: older than
// the file tsc wrote for it, as after a bare `npx tsc`.
// bin/corral, the launcher, moved NODE_EXTRA_CA_CERTS aside so that Node would not parse the CA
// bundle it names while starting; back it goes before anything else runs, so every process the CLI
// starts gets the caller's environment unchanged. Node reads the variable only at its start: this
// process trusts the extra CAs no more than one started without it (none of Corral's code in it
// opens a TLS connection: image pulls are apt's, a child process).
const moved = process.env.CORRAL_MOVED_CA_CERTS;
if (moved !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = moved;
  delete process.env.CORRAL_MOVED_CA_CERTS;
}

const { statSync } = require("node:fs");
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");

const dist = join(__dirname, "..", "dist");
const compiled = pathToFileURL(join(dist, "src", "cli", "main.js"));
// `corral run` has a bundle of its own, without the other verbs' code (src/cli/run-main.ts).
const verb = process.argv[2] ?? "";
const [bundleName, entryName] = verb === "run" ? ["run.cjs", "run-main.js"] : ["main.cjs", "main.js"];
const bundled = pathToFileURL(join(dist, "bundle", bundleName));
// The loader itself is checked here (entryFile is in it); the bundle by the loader's entryFile.
const loaderFile = join(dist, "bundle", "entry.cjs");
let loader;
try {
  if (statSync(loaderFile).mtimeMs >= statSync(join(dist, "src", "entry.js")).mtimeMs) loader = require(loaderFile);
} catch {
  // no loader bundle: tsc's files
}
const cli =
  loader &&
  !process.argv.includes("--profile") &&
  loader.entryFile(bundled, pathToFileURL(join(dist, "src", "cli", entryName))) === bundled
    ? // Each verb runs code of its own: a code cache each.
      Promise.resolve(loader.loadBundle(bundled, /^[a-z]{1,12}$/.test(verb) ? verb : "main"))
    : import(compiled.href);
cli.then(({ cliMain, reportError }) => {
  // An exception that escapes the command (an event handler's, a promise nobody awaited) is
  // reported like any other failure: one line, no stack unless $CORRAL_DEBUG is set.
  const fail = (e) => {
    process.exitCode = reportError(e);
    process.exit();
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  return cliMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.exitCode = reportError(e);
    },
  );
});
