import assert from "node:assert/strict";
import { test } from "node:test";
import { joinNegativeValues, parseGlobalArgs, parseVerbArgs } from "./args.js";

const OPTS = {
  cpus: { type: "string" },
  time: { type: "string", short: "t" },
  detach: { type: "boolean", short: "d" },
} as const;

test("a negative number after a flag that takes a value is its value (the verb refuses it), not 'ambiguous'", () => {
  assert.deepEqual(joinNegativeValues(["--cpus", "-1", "-t", "-5", "-d", "x"], OPTS), [
    "--cpus=-1",
    "--time=-5",
    "-d",
    "x",
  ]);
  assert.deepEqual(
    joinNegativeValues(["-d", "-1", "--", "--cpus", "-1"], OPTS),
    ["-d", "-1", "--", "--cpus", "-1"],
    "not after a boolean, nor after --",
  );
  assert.equal(parseVerbArgs("run", ["--cpus", "-1"], OPTS).values.cpus, "-1");
});

test("every usage failure is USAGE, one line naming the verb's --help", () => {
  for (const argv of [["--bogus"], ["--cpus"]]) {
    assert.throws(
      () => parseVerbArgs("stop", argv, OPTS),
      (e: unknown) => {
        const err = e as { code: string; message: string; exitCode: number };
        assert.equal(err.code, "USAGE");
        assert.equal(err.exitCode, 2);
        assert.match(err.message, /; see 'corral stop --help'$/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
  }
});

const RUNC = {
  bundle: { type: "string", short: "b" },
  "pid-file": { type: "string" },
  detach: { type: "boolean", short: "d" },
  env: { type: "string", short: "e", multiple: true },
} as const;

test("runc's dialect: --flag value, --flag=value, -flag value, -b, --bool=false; flags end at the first positional", () => {
  const p = parseVerbArgs(
    "oci run",
    ["-bundle", "/b", "--pid-file=/p", "-d", "--detach=false", "-e", "A=1", "--env", "-B=2", "id", "cmd", "-x"],
    RUNC,
    { dialect: "runc" },
  );
  assert.deepEqual({ ...p.values }, { bundle: "/b", "pid-file": "/p", env: ["A=1", "-B=2"] });
  assert.deepEqual(p.positionals, ["id", "cmd", "-x"]);
  assert.equal(
    parseVerbArgs("oci run", ["-b", "x", "--detach=true", "id"], RUNC, { dialect: "runc" }).values.detach,
    true,
  );
  assert.deepEqual(parseVerbArgs("oci run", ["--", "-id"], RUNC, { dialect: "runc" }).positionals, ["-id"]);
});

test("runc's dialect: global flags before the command; usage failures are USAGE with runc's exit status 1", () => {
  const g = parseGlobalArgs("oci", ["--root", "/r", "--log=/l", "create", "--bundle", "b", "x"], {
    root: { type: "string" },
    log: { type: "string" },
  });
  assert.deepEqual(
    { ...g, values: { ...g.values } },
    { values: { root: "/r", log: "/l" }, command: "create", rest: ["--bundle", "b", "x"] },
  );
  for (const argv of [["--bogus", "id"], ["--bundle"], ["--detach=maybe", "id"]])
    assert.throws(
      () => parseVerbArgs("oci create", argv, RUNC, { dialect: "runc" }),
      (e: unknown) => {
        const err = e as { code: string; message: string; exitCode: number };
        assert.equal(err.code, "USAGE");
        assert.equal(err.exitCode, 1);
        assert.match(err.message, /; see 'corral oci create --help'$/);
        return true;
      },
      argv.join(" "),
    );
});

test("flagsFirst: what follows the first positional is the command's, not the verb's", () => {
  const p = parseVerbArgs("container run", ["--name", "n", "-d", "img", "sh", "-c", "echo"], RUNC_FREE, {
    flagsFirst: true,
  });
  assert.deepEqual(p.positionals, ["img", "sh", "-c", "echo"]);
  assert.deepEqual({ ...p.values }, { name: "n", detach: true });
  assert.deepEqual(
    parseVerbArgs("vm", ["memory", "x", "-5"], {}).positionals,
    ["memory", "x", "-5"],
    "a negative positional",
  );
});
const RUNC_FREE = { name: { type: "string" }, detach: { type: "boolean", short: "d" } } as const;
