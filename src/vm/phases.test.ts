import assert from "node:assert/strict";
import { test } from "node:test";
import { epochMs, parseTimings, Phases, TIMINGS_PREFIX } from "./phases.js";

test("a timings line gives its phases back, in ms from the origin; the first mark of a name counts", () => {
  const origin = epochMs() - 100;
  const p = new Phases(origin);
  p.mark("checked", origin + 3);
  p.mark("RAM swapped into the warm machine (2 of 631 code pages changed; map 7.1 ms; compare 12.5 ms)", origin + 40);
  p.mark("checked", origin + 90);
  p.mark("first exec ended");
  const line = `\r\nroot@corral:/# ${p.line()}\r`;
  assert.ok(p.line().startsWith(TIMINGS_PREFIX));
  const t = parseTimings(line)!;
  assert.deepEqual(Object.keys(t), [
    "checked",
    "RAM swapped into the warm machine (2 of 631 code pages changed; map 7.1 ms; compare 12.5 ms)",
    "first exec ended",
  ]);
  assert.equal(t["checked"], 3);
  assert.equal(t["RAM swapped into the warm machine (2 of 631 code pages changed; map 7.1 ms; compare 12.5 ms)"], 40);
  assert.ok(t["first exec ended"]! >= 100);
  assert.equal(parseTimings("corral: VM 'x' restored"), undefined);
});
