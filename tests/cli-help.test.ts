// Help and hints (issue 14 item 4), through the real `corral` executable: `--help` works for
// every verb and sub-verb the help texts list, every "'corral ...'" hint in the sources names a
// verb (and sub-verb) that exists, and `npm run bench` refuses what it does not know before it
// runs anything.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CORRAL = join(ROOT, "bin", "corral.js");
const BENCH = join(ROOT, "dist", "src", "bench", "main.js");
const dir = mkdtempSync(join(tmpdir(), "corral-help-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The sub-commands a help text lists: "corral V SUB" usage lines and a "Commands:" section. */
function subcommands(help: string, path: string[]): string[] {
  const found = new Set<string>();
  const prefix = ["corral", ...path].join(" ");
  for (const m of help.matchAll(new RegExp(`^(?:Usage:)?\\s*${prefix} ([a-z][a-z-]*)\\b`, "gm"))) found.add(m[1]!);
  const section = /^Commands:\n((?: {2}.*\n?)+)/m.exec(help)?.[1] ?? "";
  for (const m of section.matchAll(/^ {2}([a-z][a-z-]*)\s/gm)) found.add(m[1]!);
  return [...found];
}

/** Every verb and sub-verb, from the help texts themselves: [verb], [verb, sub], ... */
function commands(): string[][] {
  const top = run(CORRAL, ["--help"]).stdout;
  const out: string[][] = [];
  for (const verb of subcommands(top, [])) {
    out.push([verb]);
    for (const sub of subcommands(run(CORRAL, [verb, "--help"]).stdout, [verb])) out.push([verb, sub]);
  }
  return out;
}

test("--help works for every verb and sub-verb", () => {
  const all = commands();
  for (const want of [["container", "run"], ["image", "build"], ["vm", "memory"], ["oci", "server"], ["rm"]]) {
    assert.ok(
      all.some((c) => c.join(" ") === want.join(" ")),
      `${want.join(" ")} is listed`,
    );
  }
  for (const c of all) {
    const r = run(CORRAL, [...c, "--help"]);
    assert.equal(r.status, 0, `corral ${c.join(" ")} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage/, `corral ${c.join(" ")} --help`);
    assert.equal(r.stderr, "");
  }
});

test("every 'corral ...' hint in the sources names a real command", () => {
  const all = new Set(commands().map((c) => c.join(" ")));
  const withSubs = new Set([...all].filter((c) => c.includes(" ")).map((c) => c.split(" ")[0]!));
  const files = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" }).filter(
    (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
  );
  let hints = 0;
  for (const f of files) {
    for (const m of readFileSync(join(ROOT, "src", f), "utf8").matchAll(
      /'corral ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g,
    )) {
      hints++;
      const [verb, sub] = [m[1]!, m[2]];
      assert.ok(all.has(verb), `${f}: '${m[0]}' names no verb`);
      // A verb with sub-verbs is followed by one (or by a flag, NAME or a variable, not matched).
      if (withSubs.has(verb) && sub !== undefined)
        assert.ok(all.has(`${verb} ${sub}`), `${f}: '${m[0]}' names no sub-verb of ${verb}`);
    }
  }
  assert.ok(hints > 10, `hints found: ${hints}`);
});

test("a container that does not exist: the hint names this front's list command", () => {
  const c = run(CORRAL, ["oci", "--root", dir, "state", "nope"]);
  assert.equal(c.status, 1);
  assert.equal(c.stderr, "corral: container 'nope' does not exist; 'corral oci list' shows the containers\n");
});

test("npm run bench: --help, and unknown flags and benchmarks refused before anything runs", () => {
  const help = run(BENCH, ["--help"]);
  assert.equal(help.status, 0);
  assert.match(
    help.stdout,
    /^Usage: npm run bench -- \[boot\] \[cpu\] \[disk\] \[exec\] \[net\] \[containers\] (\[[a-z]+\] )*\[--rounds N\]/,
  );
  const cases: [string[], RegExp][] = [
    [
      ["--bogus"],
      /^bench: unknown flag '--bogus': the flags are --rounds N, --minutes N, --seed S, --count N and --help$/,
    ],
    [
      ["cpu", "bogus"],
      /^bench: unknown benchmark 'bogus': choose from boot, cpu, disk, exec, net, containers(, [a-z]+)*$/,
    ],
    [["--rounds", "0"], /^bench: --rounds needs a whole number of at least 1 \(got '0'\)$/],
    [["clones", "--count", "65"], /^bench: --count needs a whole number from 1 to 64 \(got '65'\)$/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(BENCH, args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", "nothing ran");
    assert.match(r.stderr.trimEnd(), pattern);
  }
});
