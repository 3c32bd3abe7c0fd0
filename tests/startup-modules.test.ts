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
import { CORRAL, HAVE_CC, ROOT, buildPass } from "./bare-metal.js";

const dir = mkdtempSync(join(tmpdir(), "corral-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BUNDLE = join(ROOT, "dist", "bundle");
const fresh = (bundled: string, compiled: string): boolean =>
  statSync(join(BUNDLE, bundled)).mtimeMs >= statSync(join(ROOT, "dist", "src", compiled)).mtimeMs;

/**
 * What the node process running `args` loads: every module file (ES modules through a module hook,
 * CommonJS files as Node's CommonJS loader compiles them), as file URLs, and Node's own list of
 * the built-in modules it loaded (process.moduleLoadList) at its exit. `esm`: with the ES module
 * hook, which starts Node's ES module loader itself; without it only the CommonJS record, so the
 * built-in list says whether the program started that loader.
 */
function loadedModules(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  esm = true,
): { status: number | null; stderr: string; modules: string[]; builtins: string[] } {
  const tag = Math.random().toString(36).slice(2);
  const log = join(dir, `modules-${tag}.txt`);
  const builtinsLog = join(dir, `builtins-${tag}.txt`);
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
  const record = join(dir, `record-${tag}.cjs`);
  writeFileSync(
    record,
    `const { appendFileSync, writeFileSync } = require("node:fs");\n` +
      `const { pathToFileURL } = require("node:url");\n` +
      `const M = require("node:module");\n` +
      `const compile = M.prototype._compile;\n` +
      `M.prototype._compile = function (content, filename) { appendFileSync(${JSON.stringify(log)}, pathToFileURL(filename).href + "\\n"); return compile.apply(this, arguments); };\n` +
      `process.on("exit", () => writeFileSync(${JSON.stringify(builtinsLog)}, process.moduleLoadList.join("\\n")));\n`,
  );
  writeFileSync(log, "");
  const r = spawnSync(
    process.execPath,
    [...(esm ? ["--import", pathToFileURL(register).href] : []), "--require", record, ...args],
    { encoding: "utf8", timeout: 120_000, env },
  );
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((u) => u.startsWith("file:"));
  const builtins = readFileSync(builtinsLog, "utf8").split("\n");
  return { status: r.status, stderr: r.stderr, modules, builtins };
}

/** Built-in modules of Node's ES module loader that it loads only once it loads a module file. */
const ESM_LOADER = ["NativeModule internal/modules/esm/module_job", "NativeModule internal/modules/esm/translators"];

test("the bundle is newer than tsc's output (npm run build makes it)", () => {
  for (const [bundled, compiled] of [
    ["main.cjs", "cli/main.js"],
    ["run.cjs", "cli/run-main.js"],
    ["daemon.cjs", "vm/daemon.js"],
    ["daemon.js", "vm/daemon.js"],
  ] as const)
    assert.ok(
      fresh(bundled, compiled),
      `dist/bundle/${bundled} is missing or older than dist/src/${compiled}: run 'npm run build' (tsc, then scripts/bundle.mjs)`,
    );
});

/** The loader's bundle, which the CLI's entry and the VM process's script require. */
const LOADER = pathToFileURL(join(BUNDLE, "entry.cjs")).href;

test(
  "corral run loads the bundle through CommonJS: no module of tsc's output, none of Zod's, no ES module loader",
  { skip: !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)" },
  () => {
    const elf = buildPass(dir);
    const home = mkdtempSync(join(dir, "home-"));
    const env = { ...process.env, CORRAL_HOME: home, CORRAL_DEBUG_CODE_CACHE: "1" };
    for (const esm of [true, false]) {
      const r = loadedModules([CORRAL, "run", "--memory", "128M", "--firmware", elf], env, esm);
      assert.equal(r.status, 0, `the program's run failed: ${r.stderr}`);
      const src = pathToFileURL(join(ROOT, "dist", "src")).href + "/";
      assert.deepEqual(
        r.modules.filter((u) => u.startsWith(src)),
        [],
        "corral run loaded tsc's modules: bin/corral.js did not pick the bundle",
      );
      assert.deepEqual(
        r.modules.filter((u) => u.includes("/node_modules/")),
        [],
        "a package's own files were loaded: the bundle should hold what the run needs",
      );
      assert.deepEqual(
        r.modules.filter((u) => u !== pathToFileURL(CORRAL).href),
        [LOADER],
        "corral run loaded files other than its entry and the loader's bundle",
      );
      // The bundle is read and compiled by the loader, not required: the loader says it ran it
      // (the two runs' flags differ, so each has a cache of its own).
      assert.match(r.stderr, /corral: code cache miss \(run, run\)/);
      if (!esm)
        assert.deepEqual(
          r.builtins.filter((b) => ESM_LOADER.includes(b)),
          [],
          "corral run started Node's ES module loader",
        );
    }
  },
);

test("the VM process's bundle loads no module but its script and the loader, through CommonJS", () => {
  // Run without its arguments, it loads every module it imports, then refuses in one line.
  const script = join(BUNDLE, "daemon.js");
  const r = loadedModules([script], { ...process.env, CORRAL_CODE_CACHE: "0" }, false);
  assert.match(r.stderr, /usage: daemon\.js corral-vm-daemon NAME CONFIG/);
  assert.deepEqual(
    r.modules.sort(),
    [pathToFileURL(script).href, LOADER].sort(),
    "the VM process loaded modules from outside its bundle",
  );
  assert.deepEqual(
    r.builtins.filter((b) => ESM_LOADER.includes(b)),
    [],
    "the VM process started Node's ES module loader",
  );
});
