/**
 * A block's layout: the fields the run loop reads on every block transition (runHart,
 * CodeCache.next) come first, so that they share the object's first cache lines. V8 lays an
 * object's fields out in the order they are first set, which Object.keys reports. Ordered as
 * declared before (the decoded tables first), a steady `exec true` cost 15 to 25 % more CPU:
 * the run loop waited on the next block's fields arriving from memory (docs/benchmarks.md,
 * "execpath").
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { J } from "../isa/encode.testkit.js";
import { CodeCache } from "./exec.js";

/** What runHart and next read of a block each time it runs (exec.ts), in any order. */
const HOT = ["off", "dead", "wx", "run", "hits", "l0", "d0", "l1", "d1", "linkable", "tbase", "count", "closures"];

test("a block's fields read on every transition are its first fields (its object's first cache lines)", () => {
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  m.ram.view.setInt32(0, J(0, 0), true); // j .
  h.pc = RAM_BASE;
  const b = new CodeCache(m.ram, () => m.harts).lookup(h);
  const keys = Object.keys(b);
  assert.deepEqual(new Set(keys.slice(0, HOT.length)), new Set(HOT));
  // The rest is there, after them (a field added to Block lands at its end unless placed).
  for (const k of ["raws", "offs", "code", "n", "hi", "solo", "end"]) assert.ok(keys.indexOf(k) >= HOT.length, k);
});
