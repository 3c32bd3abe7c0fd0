import assert from "node:assert/strict";
import { test } from "node:test";
import { CPU_PREFIX, epochMs, FAULTS_PREFIX, parseTimings, Phases, TIMINGS_PREFIX } from "./phases.js";

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

test("the usage lines give the VM process's CPU and page faults at each mark it made itself, never falling", () => {
  const origin = epochMs();
  const p = new Phases(origin);
  p.mark("checked", origin + 1); // the caller's stamp: not this process's work
  p.mark("taken");
  // Work between two marks: CPU and faults (a fresh buffer's pages) only add up.
  const b = Buffer.alloc(8 << 20, 1);
  let sum = 0;
  for (let i = 0; i < b.length; i += 4096) sum += b[i]!;
  assert.equal(sum, (8 << 20) / 4096);
  p.mark("RAM swapped into the warm machine (0 of 580 code pages changed; map 1.0 ms)");
  p.mark("taken");
  p.mark("first exec ended");
  const [cpuLine, faultLine] = p.usageLines();
  assert.ok(cpuLine.startsWith(CPU_PREFIX) && faultLine.startsWith(FAULTS_PREFIX));
  for (const [line, prefix] of [
    [cpuLine, CPU_PREFIX],
    [faultLine, FAULTS_PREFIX],
  ] as const) {
    const u = parseTimings(`\r\n${line}\r`, prefix)!;
    assert.deepEqual(Object.keys(u), ["taken", "RAM swapped into the warm machine", "first exec ended"]);
    const v = Object.values(u);
    for (let i = 1; i < v.length; i++) assert.ok(v[i]! >= v[i - 1]!, `${line}: falls`);
    assert.ok(v[0]! >= 0);
    // Not the timings line's phases: each line is found by its own prefix.
    assert.equal(parseTimings(line), undefined);
  }
});
