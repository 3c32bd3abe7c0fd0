import assert from "node:assert/strict";
import { test } from "node:test";
import { formatMiB, parseSize, sizeBytes } from "./size.js";

test("one size syntax: a unit, or MiB for a bare number", () => {
  assert.equal(sizeBytes("512"), 512 * 2 ** 20);
  assert.equal(sizeBytes("512M"), 512 * 2 ** 20);
  assert.equal(sizeBytes("512MiB"), 512 * 2 ** 20);
  assert.equal(sizeBytes("65536k"), 64 * 2 ** 20);
  assert.equal(sizeBytes("1G"), 2 ** 30);
  assert.equal(sizeBytes("1.5G"), 1.5 * 2 ** 30);
  assert.equal(sizeBytes("2T"), 2 * 2 ** 40);
  for (const bad of ["", "lots", "-1M", "1X", "M", "1e3"]) assert.equal(sizeBytes(bad), undefined, bad);
  assert.equal(formatMiB(256 * 2 ** 20), "256M");
});

test("parseSize: a one-line error naming what was given", () => {
  assert.throws(() => parseSize("lots", "--size"), {
    code: "BAD_SIZE",
    message: "--size 'lots' is not a size: use e.g. 512M or 1G",
  });
  assert.throws(() => parseSize("-5", "SIZE"), {
    code: "BAD_SIZE",
    message: "SIZE '-5' is negative: give a size such as 512M or 1G",
  });
  assert.throws(() => parseSize("0", "SIZE"), {
    code: "BAD_SIZE",
    message: "SIZE '0' is zero: give a size such as 512M or 1G",
  });
});
