// Issue 15, "no slowdown": `corral run` and the VM process start from the bundle scripts/bundle.mjs
// makes (`npm run build`), not from tsc's 300 files and Zod's 95 (docs/benchmarks.md); since issue
// 17 item 1, one CommonJS file each that src/entry.ts compiles with V8's code cache, so the only
// ES modules loaded are the loader's. Which files a real `corral` process loads, recorded by a
// module hook, while it runs a real bare-metal program to its exit status. (That bundled modules find the files they locate from their own URL, the
// VM process script, the guest agent, the native helpers, the tests that start VMs show.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after as afterAll, test } from "node:test";
import { pathToFileURL } from "node:url";
import { CORRAL, FINISHER, HAVE_CC, ROOT, buildProgram } from "./bare-metal.js";

const dir = mkdtempSync(join(tmpdir(), "corral-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BUNDLE = join(ROOT, "dist", "bundle");
const fresh = (bundled: string, compiled: string): boolean =>
  statSync(join(BUNDLE, bundled)).mtimeMs >= statSync(join(ROOT, "dist", "src", compiled)).mtimeMs;

/** Every module file the node process running `args` loads, in order, as file paths or URLs. */
function loadedModules(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; stderr: string; modules: string[] } {
  const log = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const hooks = join(dir, "hooks.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";\n` +
      `export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + "\\n"); return next(url, context); }\n`,
  );
  const register = join(dir, "register.mjs");
  writeFileSync(
    register,
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  writeFileSync(log, "");
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(register).href, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    env,
  });
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((u) => u.startsWith("file:"));
  return { status: r.status, stderr: r.stderr, modules };
}

test("the bundle is newer than tsc's output (npm run build makes it)", () => {
  for (const [bundled, compiled] of [
    ["main.cjs", "cli/main.js"],
    ["daemon.cjs", "vm/daemon.js"],
    ["daemon.js", "vm/daemon.js"],
  ] as const)
    assert.ok(
      fresh(bundled, compiled),
      `dist/bundle/${bundled} is missing or older than dist/src/${compiled}: run 'npm run build' (tsc, then scripts/bundle.mjs)`,
    );
});

/** The ES modules of tsc's output that run a bundle: the entry check and the code cache's loader. */
const LOADER = ["entry.js", "code-cache.js", "home.js"];

test(
  "corral run loads the bundle: no module of tsc's output but the loader, none of Zod's",
  { skip: !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)" },
  () => {
    const elf = buildProgram(
      dir,
      "pass",
      `.globl _start\n_start:\n  li t0, ${FINISHER}\n  li t1, 0x5555\n  sw t1, 0(t0)\n1:\n  j 1b\n`,
    );
    const home = mkdtempSync(join(dir, "home-"));
    const r = loadedModules([CORRAL, "run", "--memory", "128M", "--firmware", elf], {
      ...process.env,
      CORRAL_HOME: home,
      CORRAL_DEBUG_CODE_CACHE: "1",
    });
    assert.equal(r.status, 0, `the program's run failed: ${r.stderr}`);
    const src = pathToFileURL(join(ROOT, "dist", "src")).href + "/";
    assert.deepEqual(
      r.modules.filter((u) => u.startsWith(src)).sort(),
      LOADER.map((f) => src + f).sort(),
      "corral run loaded tsc's modules: bin/corral.js did not pick the bundle",
    );
    assert.deepEqual(
      r.modules.filter((u) => u.includes("/node_modules/")),
      [],
      "a package's own files were loaded: the bundle should hold what the run needs",
    );
    // The bundle is read and compiled by the loader, not imported: the loader says it ran it.
    assert.match(r.stderr, /corral: code cache miss \(main, run\)/);
  },
);

test("the VM process's bundle loads no module but its launcher and the loader", () => {
  // Run without its arguments, it loads every module it imports, then refuses in one line.
  const r = loadedModules([join(BUNDLE, "daemon.js")], { ...process.env, CORRAL_CODE_CACHE: "0" });
  assert.match(r.stderr, /usage: daemon\.js corral-vm-daemon NAME CONFIG/);
  const src = pathToFileURL(join(ROOT, "dist", "src")).href + "/";
  assert.deepEqual(
    r.modules.sort(),
    [pathToFileURL(join(BUNDLE, "daemon.js")).href, ...LOADER.map((f) => src + f)].sort(),
    "the VM process loaded modules from outside its bundle",
  );
});
