// Hart threads' slice length (slice.ts): a hart grows its slice only while its slices are quick and
// fast (compiled code), never past its own timer deadline, and drops back to SLICE at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SLICE, SliceSize } from "./slice.js";

/** A clock whose deadlines are `ms` host milliseconds away, whatever the deadline. */
const away = (ms: number) => ({ msUntil: (): number => ms });
const far = away(1e9);

test("a hart's slice grows while its slices are quick and fast, to 16x SLICE at most", () => {
  const s = new SliceSize();
  assert.equal(s.budget(Infinity, far), SLICE);
  const seen: number[] = [];
  for (let i = 0; i < 8; i++) {
    const b = s.budget(Infinity, far);
    seen.push(b);
    s.after(b / 3_000_000, b); // 3,000 MIPS: a compiled loop
  }
  assert.deepEqual(seen, [SLICE, 2 * SLICE, 4 * SLICE, 8 * SLICE, 16 * SLICE, 16 * SLICE, 16 * SLICE, 16 * SLICE]);
});

test("a slow, long or cut-short slice sends the next back to SLICE", () => {
  for (const [ms, retired] of [
    [0.2, 20_000], // 100 MIPS: interpreted code
    [1.5, 2_000_000], // fast, but a long wait for the hart's slots
    [0.01, 10], // ended at WFI, a PAUSE or another hart's request
  ] as const) {
    const s = new SliceSize();
    for (let i = 0; i < 4; i++) s.after(0.01, SLICE);
    assert.ok(s.budget(Infinity, far) > SLICE);
    s.after(ms, retired);
    assert.equal(s.budget(Infinity, far), SLICE, `after ${retired} instructions in ${ms} ms`);
  }
});

test("a grown slice ends by the hart's timer deadline, at the last slice's speed, and never under SLICE", () => {
  const s = new SliceSize();
  for (let i = 0; i < 4; i++) s.after(0.01, SLICE); // 2,000 MIPS: 2,000,000 instructions a host ms
  assert.equal(s.budget(Infinity, far), 16 * SLICE);
  assert.equal(s.budget(1, away(0.05)), 100_000);
  assert.equal(s.budget(1, away(0.001)), SLICE);
  assert.equal(s.budget(1, away(0)), SLICE);
});

test("a profiled hart (one sample a slice) keeps SLICE", () => {
  const s = new SliceSize(false);
  for (let i = 0; i < 4; i++) s.after(0.01, SLICE);
  assert.equal(s.budget(Infinity, far), SLICE);
});
