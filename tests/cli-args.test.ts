// One argument layer for every verb (issue 15): negative numbers reach the verb's own check,
// every usage failure is the code USAGE, and every verb that takes a size says the one rule.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { SIZE_HELP } from "../src/size.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("negative numbers are taken as values, then refused by the verb in one line", () => {
  for (const [args, re] of [
    [["run", "--cpus", "-1"], /^corral: --cpus must be a whole number from 1 to 8 \(got '?-1'?\)\n$/],
    [["run", "--memory", "-512"], /^corral: --memory '-512' is negative: give a size such as 512M or 1G\n$/],
    [["stop", "-t", "-5", "x"], /^corral: -t must be a number of seconds \(got '-5'\)\n$/],
    [["exec", "x", "--timeout", "-3", "--", "true"], /^corral: --timeout must be seconds \(got '-3'\)\n$/],
  ] as const) {
    const r = corral([...args]);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, re);
  }
});

test("an unknown --irqchip is refused in one line naming the two", () => {
  const r = corral(["run", "--irqchip", "apic"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^corral: --irqchip must be one of plic, aia \(got 'apic'\)\n$/);
});

test("every verb that takes a size states the one size rule in its --help", () => {
  for (const verb of ["run", "container", "image", "vm"]) {
    const r = corral([verb, "--help"]);
    assert.equal(r.status, 0, verb);
    assert.ok(r.stdout.replace(/\s+/g, " ").includes(SIZE_HELP), `${verb} --help:\n${r.stdout}`);
  }
});
