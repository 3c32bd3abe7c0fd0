// bin/corral, the launcher a user's `corral` runs: Node starts without NODE_EXTRA_CA_CERTS (it
// would parse the bundle that names before any JavaScript: docs/benchmarks.md, "Start-up: a
// launcher that is not Node"), and the CLI hands the variable back to every process it starts.
// Node's own warning is the witness of the parse: a file that does not decode as PEM makes Node
// print "Ignoring extra certs from" at start, and `node bin/corral.js` still does.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after as afterAll, test } from "node:test";
import { CORRAL, HAVE_CC, ROOT, buildPass } from "./bare-metal.js";

const LAUNCHER = join(ROOT, "bin", "corral");
const dir = mkdtempSync(join(tmpdir(), "corral-launcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** PEM armour around text that is not base64: Node warns at start that it ignores the file. */
const BAD_PEM = join(dir, "bad.pem");
writeFileSync(BAD_PEM, "-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n");
const NODE_PARSED = /Ignoring extra certs from/;

/** The caller's environment less both variables the launcher handles, plus `extra`. */
function envWith(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _a, CORRAL_MOVED_CA_CERTS: _b, ...rest } = process.env;
  return { ...rest, CORRAL_HOME: mkdtempSync(join(dir, "home-")), ...extra };
}

test(
  "a run through the launcher: Node does not parse NODE_EXTRA_CA_CERTS; run as node bin/corral.js, it does",
  { skip: !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)" },
  () => {
    const elf = buildPass(dir);
    const env = envWith({ NODE_EXTRA_CA_CERTS: BAD_PEM });
    const args = ["run", "--memory", "128M", "--firmware", elf];
    const launched = spawnSync(LAUNCHER, args, { env, encoding: "utf8", timeout: 120_000 });
    assert.equal(launched.status, 0, `the program's run failed: ${launched.stderr}`);
    assert.doesNotMatch(launched.stderr, NODE_PARSED, "Node parsed the CA file: the launcher did not move it aside");
    // The witness works: the same run started as `node bin/corral.js` makes Node parse it.
    const direct = spawnSync(process.execPath, [CORRAL, ...args], { env, encoding: "utf8", timeout: 120_000 });
    assert.equal(direct.status, 0, `the program's run failed: ${direct.stderr}`);
    assert.match(direct.stderr, NODE_PARSED);
  },
);

test("a process the CLI starts sees NODE_EXTRA_CA_CERTS as the caller set it, and nothing of the launcher's", () => {
  // `image pull` into an empty CORRAL_HOME first asks apt-get for its version; an apt-get of our
  // own, first on PATH, records what it was given and fails, so the pull stops there (APT_NOT_FOUND).
  const bin = join(dir, "fake-bin");
  mkdirSync(bin, { recursive: true });
  const log = join(dir, "apt-env.txt");
  writeFileSync(
    join(bin, "apt-get"),
    `#!/bin/sh\nprintf '%s|%s\\n' "\${NODE_EXTRA_CA_CERTS-<unset>}" "\${CORRAL_MOVED_CA_CERTS-<unset>}" >> '${log}'\nexit 1\n`,
  );
  chmodSync(join(bin, "apt-get"), 0o755);
  // npm's bin link is a symlink to bin/corral: the launcher finds bin/corral.js through it.
  const link = join(dir, "corral");
  symlinkSync(LAUNCHER, link);
  const cases: [string, string | undefined][] = [
    [BAD_PEM, BAD_PEM],
    ["", ""], // set but empty stays set
    ["unset", undefined],
  ];
  for (const [name, value] of cases) {
    writeFileSync(log, "");
    const env = envWith({ PATH: `${bin}:${process.env["PATH"] ?? ""}` });
    if (value !== undefined) env["NODE_EXTRA_CA_CERTS"] = value;
    for (const cmd of [LAUNCHER, link]) {
      const r = spawnSync(cmd, ["image", "pull"], { env, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /^corral: 'apt-get' is not available/m, name);
      assert.doesNotMatch(r.stderr, NODE_PARSED, name);
    }
    const want = `${value ?? "<unset>"}|<unset>\n`;
    assert.equal(readFileSync(log, "utf8"), want + want, `apt-get's environment, NODE_EXTRA_CA_CERTS ${name}`);
  }
});

test("a CORRAL_MOVED_CA_CERTS left in the caller's environment is not taken for the user's variable", () => {
  // Only the launcher's own move is handed back: with NODE_EXTRA_CA_CERTS unset, a stray value of
  // the launcher's variable must not become NODE_EXTRA_CA_CERTS in the CLI's children.
  const bin = join(dir, "fake-bin-2");
  mkdirSync(bin, { recursive: true });
  const log = join(dir, "apt-env-2.txt");
  writeFileSync(
    join(bin, "apt-get"),
    `#!/bin/sh\nprintf '%s\\n' "\${NODE_EXTRA_CA_CERTS-<unset>}" > '${log}'\nexit 1\n`,
  );
  chmodSync(join(bin, "apt-get"), 0o755);
  const env = envWith({ PATH: `${bin}:${process.env["PATH"] ?? ""}`, CORRAL_MOVED_CA_CERTS: BAD_PEM });
  const r = spawnSync(LAUNCHER, ["image", "pull"], { env, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(readFileSync(log, "utf8"), "<unset>\n");
});
