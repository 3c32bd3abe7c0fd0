#!/usr/bin/env node
import { entryFile, loadBundle } from "../dist/src/entry.js";
// The bundle (scripts/bundle.mjs) starts faster, with V8's code cache (src/entry.ts); tsc's files
// when it is missing or stale, and for `--profile`, whose host phases are told apart by the source
// file of each frame (src/profile/host.ts).
const compiled = new URL("../dist/src/cli/main.js", import.meta.url);
const bundled = new URL("../dist/bundle/main.cjs", import.meta.url);
const { cliMain, reportError } =
  !process.argv.includes("--profile") && entryFile(bundled, compiled) === bundled
    ? // Each verb runs code of its own: a code cache each.
      loadBundle(bundled, /^[a-z]{1,12}$/.test(process.argv[2] ?? "") ? process.argv[2] : "main")
    : await import(compiled);
// An exception that escapes the command (an event handler's, a promise nobody awaited) is
// reported like any other failure: one line, no stack unless $CORRAL_DEBUG is set.
const fail = (e) => {
  process.exitCode = reportError(e);
  process.exit();
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
cliMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.exitCode = reportError(e);
  },
);
