// The smaps parser against this test process's own /proc data (proc(5)).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { hostAddress, adviseMergeable } from "./mem.js";
import { mappingAt, parseRollup, parseSmaps, pssOf, readKsmStat, readRollup, readSmaps } from "./smaps.js";

const MiB = 2 ** 20;

test("every mapping of /proc/self/maps is parsed, with its fields in bytes and its VmFlags", () => {
  const text = readFileSync("/proc/self/smaps", "utf8");
  const entries = parseSmaps(text);
  const headers = text.split("\n").filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l));
  assert.equal(entries.length, headers.length);
  for (const e of entries) {
    assert.ok(e.end > e.start);
    assert.equal(e.fields["Size"], e.end - e.start, "Size is the mapping's length");
    assert.ok((e.fields["Rss"] ?? -1) >= 0 && (e.fields["Rss"] ?? 0) <= e.end - e.start);
    assert.ok(e.vmFlags.length > 0);
    assert.equal(e.vmFlags.includes("rd"), e.perms[0] === "r", `${e.perms} ${e.vmFlags.join(" ")}`);
  }
  assert.ok(entries.some((e) => e.path === "[stack]"));
  assert.ok(entries.some((e) => e.path === process.execPath || e.path.endsWith("/node")));
});

test("a buffer's mapping: resident pages follow what is touched, and MADV_MERGEABLE shows as VmFlags mg", () => {
  const buf = new ArrayBuffer(32 * MiB); // calloc'd, its own anonymous mapping, untouched
  const addr = hostAddress(buf)!;
  const before = mappingAt(readSmaps(), addr)!;
  assert.equal(before.path, "");
  new Uint8Array(buf).fill(1, 0, 16 * MiB);
  const after = mappingAt(readSmaps(), addr)!;
  assert.ok(after.fields["Rss"]! - (before.fields["Rss"] ?? 0) >= 16 * MiB - 8192, "16 MiB more resident");
  assert.ok(after.fields["Private_Dirty"]! >= 16 * MiB - 8192);
  assert.ok(!after.vmFlags.includes("mg"));
  const start = Math.ceil(addr / 4096) * 4096;
  adviseMergeable(start, 16 * MiB, true);
  const marked = mappingAt(readSmaps(), start)!;
  assert.ok(marked.vmFlags.includes("mg"), marked.vmFlags.join(" "));
  assert.equal(marked.start, start, "the advice splits the mapping where it starts");
  adviseMergeable(start, 16 * MiB, false);
  assert.ok(!mappingAt(readSmaps(), start)!.vmFlags.includes("mg"));
});

test("smaps_rollup and pssOf: this process's PSS, and 0 for a process that does not exist", () => {
  const r = parseRollup(readFileSync("/proc/self/smaps_rollup", "utf8"));
  assert.ok(r["Rss"]! > 0 && r["Pss"]! > 0 && r["Pss"]! <= r["Rss"]!);
  assert.equal(readRollup(2 ** 22 + 1), undefined);
  const self = pssOf([process.pid]);
  assert.ok(self > 0);
  assert.ok(pssOf([process.pid, 2 ** 22 + 1]) > 0);
  assert.equal(pssOf([]), 0);
  const ksm = readKsmStat();
  if (ksm !== undefined) assert.equal(typeof ksm.mergingPages, "number");
});
