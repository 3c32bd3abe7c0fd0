import { test } from "node:test";
import assert from "node:assert/strict";
import { Clock } from "./clock.js";

/** Reads the clock until it moves past `t`, or fails after `ms` host milliseconds (a guard, not a measure). */
function until(c: Clock, t: number, ms: number): number {
  const end = performance.now() + ms;
  for (;;) {
    const now = c.ticks();
    if (now > t) return now;
    if (performance.now() > end) assert.fail(`mtime stayed at ${now}`);
  }
}

test("skip: mtime stands still, never goes back, then runs on at its rate", () => {
  const c = new Clock();
  const t0 = until(c, 0, 5_000);
  // Skipping an hour: the host's clock will not catch up during this test, so mtime must hold.
  c.skip(3_600_000);
  let last = c.ticks();
  assert.ok(last >= t0);
  for (let i = 0; i < 10_000; i++) {
    const t = c.ticks();
    assert.equal(t, last);
    last = t;
  }
  // Freezing and thawing keeps the value; mtime then runs on from it, not from the skipped origin.
  c.freeze();
  assert.equal(c.ticks(), last);
  c.thaw();
  assert.ok(until(c, last, 5_000) > last);
});

test("skip: a short skip delays mtime, which then moves again", () => {
  const c = new Clock();
  const t0 = until(c, 0, 5_000);
  c.skip(1);
  let prev = t0;
  const t1 = until(c, t0, 5_000);
  assert.ok(t1 > prev);
  prev = t1;
  // continueFrom sets mtime outright (a restored snapshot's), below what was read before.
  c.continueFrom(5);
  assert.ok(c.ticks() >= 5);
  assert.ok(c.ticks() < prev);
});
