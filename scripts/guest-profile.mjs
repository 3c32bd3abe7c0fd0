#!/usr/bin/env node
/**
 * Retired: the guest profiler is `corral run --profile FILE` (README, "Using it";
 * docs/benchmarks.md, "Guest profiles"). This wrapper runs a workload in the default guest
 * under it and prints the profile, for the commands earlier sections of docs/benchmarks.md name:
 *
 *   node scripts/guest-profile.mjs [--disk FILE] [--memory SIZE] [--net SPEC] -- 'workload shell code'
 *
 * The profile covers the whole run (boot included); the old flags that instrumented the engine
 * (--counts, --stacks, --own-markers, --host-prof, --no-sample) are gone.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const sep = process.argv.indexOf("--");
let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2, sep < 0 ? undefined : sep),
    options: { disk: { type: "string", multiple: true }, memory: { type: "string" }, net: { type: "string" } },
  }));
} catch (e) {
  process.stderr.write(
    `guest-profile: ${e.message.split("\n")[0]}; use 'corral run --profile FILE' (corral run --help)\n`,
  );
  process.exit(2);
}
const workload = sep < 0 ? "true" : process.argv.slice(sep + 1).join(" ");
const dir = mkdtempSync(join(tmpdir(), "corral-prof-"));
const out = join(dir, "profile.txt");
const corral = fileURLToPath(new URL("../bin/corral.js", import.meta.url));
const args = ["run", "--profile", out];
for (const d of values.disk ?? []) args.push("--disk", d);
if (values.memory) args.push("--memory", values.memory);
if (values.net) args.push("--net", values.net);
const r = spawnSync(process.execPath, [corral, ...args, "--", "sh", "-c", workload], { stdio: "inherit" });
try {
  process.stdout.write(readFileSync(out, "utf8"));
} catch {
  // the run failed before the profile was written: its own message said why
}
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
