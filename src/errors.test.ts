import assert from "node:assert/strict";
import { test } from "node:test";
import { CorralError, DEBUG_ENV, describeFailure } from "./errors.js";

test("a CorralError is its message, with its exit status", () => {
  assert.deepEqual(describeFailure(new CorralError("X", "no such thing: do this", { exitCode: 2 }), {}), {
    text: "corral: no such thing: do this\n",
    code: 2,
  });
});

test("an unexpected exception is one 'internal error' line; its stack only with $CORRAL_DEBUG", () => {
  const e = new TypeError("x is undefined\nsecond line");
  const plain = describeFailure(e, {});
  assert.equal(plain.code, 70);
  assert.equal(
    plain.text,
    `corral: internal error: TypeError: x is undefined (please report it; set ${DEBUG_ENV}=1 for the stack)\n`,
  );
  const debug = describeFailure(e, { [DEBUG_ENV]: "1" });
  assert.equal(debug.code, 70);
  assert.match(debug.text, /^corral: internal error: TypeError: x is undefined\nsecond line\n\s+at /);
  assert.equal(describeFailure("a string\nthrown", {}).text.split("\n").length, 2, "one line and its newline");
});
