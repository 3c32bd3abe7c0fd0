import assert from "node:assert/strict";
import { test } from "node:test";
import { joinNegativeValues, parseVerbArgs } from "./args.js";

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
