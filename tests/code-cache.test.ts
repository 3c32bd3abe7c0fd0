// Issue 17 item 1: the CLI's bundle runs with V8's code cache (src/entry.ts, src/code-cache.ts).
// The real `corral` runs a real bare-metal program (printing through the UART, exiting through the
// test finisher) with a cache that is missing, good, damaged, or made for other code: the output
// and the exit status are the program's every time, the cache is used only when it is good, a bad
// one is replaced, and nothing is written outside $CORRAL_HOME/code-cache. A bundle rewritten with
// source of the same length (V8 checks only the length) never runs the old file's cache.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after as afterAll, test } from "node:test";
import { pathToFileURL } from "node:url";
import { CACHE_LAYOUT } from "../src/code-cache.js";
import { CORRAL, HAVE_CC, POWER_OFF, ROOT, UART0, buildProgram, printChar } from "./bare-metal.js";

const dir = mkdtempSync(join(tmpdir(), "corral-code-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

/** Prints "ok" and exits with status 0 through the test finisher. */
const program = (): string =>
  buildProgram(dir, "ok", `.globl _start\n_start:\n  li t0, ${UART0}\n${printChar("o")}${printChar("k")}${POWER_OFF}`);

/** Every file under `home`, relative to it. */
function files(home: string): string[] {
  return readdirSync(home, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(home.length + 1))
    .sort();
}

function run(home: string, elf: string): { status: number | null; stdout: string; cache: string } {
  const r = spawnSync(process.execPath, [CORRAL, "run", "--memory", "64M", "--firmware", elf], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, CORRAL_HOME: home, CORRAL_DEBUG_CODE_CACHE: "1" },
  });
  const cache = [...r.stderr.matchAll(/^corral: code cache (\w+)/gm)].map((m) => m[1]).join(" ");
  return { status: r.status, stdout: r.stdout, cache };
}

test(
  "the first run writes the cache, the next uses it; a damaged or foreign cache is refused and replaced",
  { skip },
  () => {
    const elf = program();
    const home = mkdtempSync(join(dir, "home-"));
    // A cache is written only after a run that succeeded.
    const failed = run(home, join(dir, "missing.elf"));
    assert.deepEqual([failed.status, failed.cache], [2, "miss"]);
    assert.deepEqual(files(home), []);

    assert.deepEqual(run(home, elf), { status: 0, stdout: "ok", cache: "miss written" });
    const [name, ...more] = files(home);
    // `corral run` has a bundle of its own (run.cjs): its cache is that file's, variant run.
    assert.match(name ?? "", /^code-cache\/run-run-[0-9a-f]{8}\.bin$/);
    assert.deepEqual(more, [], "one cache file, no temporary file left");
    const path = join(home, name!);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, "code-cache")).mode & 0o777, 0o700);

    // Good: used (flags Corral sets while it runs are no obstacle: src/code-cache.ts RUNTIME_V8_FLAGS).
    assert.deepEqual(run(home, elf), { status: 0, stdout: "ok", cache: "hit" });
    const good = readFileSync(path);

    // Damaged: bytes of V8's data changed (its checksum catches them), or cut short.
    const damaged = Buffer.from(good);
    for (let i = damaged.length - 4096; i < damaged.length - 4000; i++) damaged[i]! ^= 0x5a;
    for (const bad of [damaged, good.subarray(0, good.length >> 1)]) {
      writeFileSync(path, bad);
      assert.deepEqual(run(home, elf), { status: 0, stdout: "ok", cache: "rejected written" });
    }

    // Made for another build of the bundle (its key names another file): never handed to V8.
    const foreign = Buffer.from(good);
    foreign[CACHE_LAYOUT.key.offset + 12]! ^= 0x01;
    writeFileSync(path, foreign);
    assert.deepEqual(run(home, elf), { status: 0, stdout: "ok", cache: "invalid written" });
    // Not a cache file at all.
    writeFileSync(path, "hello");
    assert.deepEqual(run(home, elf), { status: 0, stdout: "ok", cache: "invalid written" });
    assert.deepEqual(files(home), [name], "nothing but the one cache file");
  },
);

test("a bundle rewritten with source of the same length never runs the old source's cache", () => {
  const bundle = join(dir, "same-length.cjs");
  const home = mkdtempSync(join(dir, "home-"));
  const entry = pathToFileURL(join(ROOT, "dist", "src", "entry.js")).href;
  const load = (): string => {
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { loadBundle } from ${JSON.stringify(entry)};\n` +
          `process.stdout.write(String(loadBundle(new URL(${JSON.stringify(pathToFileURL(bundle).href)})).value()));`,
      ],
      { encoding: "utf8", env: { ...process.env, CORRAL_HOME: home, CORRAL_DEBUG_CODE_CACHE: "1" } },
    );
    assert.equal(r.status, 0, r.stderr);
    return `${r.stdout} ${[...r.stderr.matchAll(/code cache (\w+)/g)].map((m) => m[1]).join(" ")}`;
  };
  writeFileSync(bundle, "exports.value = function () { return 'first'; };\n");
  assert.equal(load(), "first miss written");
  assert.equal(load(), "first hit");
  writeFileSync(bundle, "exports.value = function () { return 'other'; };\n");
  assert.equal(load(), "other miss written");
  assert.equal(load(), "other hit");
  // The first source's cache is kept beside (another checkout may run it), the new one is used.
  assert.equal(readdirSync(join(home, "code-cache")).length, 2);
});
