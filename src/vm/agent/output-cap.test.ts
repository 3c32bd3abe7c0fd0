import assert from "node:assert/strict";
import { test } from "node:test";
import { OutputCap } from "./output-cap.js";

test("an output cap keeps each stream up to its limit, and names the first stream that went past it", () => {
  const cap = new OutputCap(5);
  assert.equal(cap.add(1, Buffer.from("abc")).toString(), "abc");
  assert.equal(cap.add(2, Buffer.from("12345")).toString(), "12345");
  assert.equal(cap.over, undefined);
  assert.equal(cap.add(1, Buffer.from("defg")).toString(), "de");
  assert.equal(cap.over, "stdout");
  assert.equal(cap.add(2, Buffer.from("6")).length, 0);
  assert.equal(cap.over, "stdout", "the first stream over stays");
  assert.equal(cap.bytes(1).toString(), "abcde");
  assert.equal(cap.bytes(2).toString(), "12345");
});
