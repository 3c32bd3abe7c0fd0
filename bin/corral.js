#!/usr/bin/env node
import { cliMain, reportError } from "../dist/src/cli/main.js";
cliMain(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.exitCode = reportError(e); },
);
