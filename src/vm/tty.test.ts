import assert from "node:assert/strict";
import { test } from "node:test";
import { checkTtySize } from "./tty.js";

test("terminal sizes: positive whole numbers that fit struct winsize", () => {
  assert.deepEqual(checkTtySize({ rows: 24, cols: 80 }), { rows: 24, cols: 80 });
  for (const bad of [
    { rows: 0, cols: 80 },
    { rows: 24, cols: -1 },
    { rows: 2.5, cols: 80 },
    { rows: 24, cols: 65536 },
    { rows: "24", cols: 80 },
    { rows: 24 },
    null,
    7,
  ]) {
    assert.throws(() => checkTtySize(bad), { code: "BAD_TTY_SIZE" }, JSON.stringify(bad));
  }
});
