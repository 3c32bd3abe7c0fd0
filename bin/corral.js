#!/usr/bin/env node
import { cliMain, reportError } from "../dist/src/cli/main.js";
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
