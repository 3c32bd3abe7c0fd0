import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleLog } from "./console-log.js";

test("a guest that prints without end cannot grow its console log past the cap; the latest output stays", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "corral-conlog-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "console.log");
  const max = 64 * 1024;
  const log = new ConsoleLog(path, max);
  const line = Buffer.from("spam spam spam spam spam spam spam spam spam spam spam spam spam\n");
  for (let i = 0; i < (10 * max) / line.length; i++) log.write(line);
  log.write(Buffer.from("the last line\n"));
  log.close();
  const size = statSync(path).size;
  assert.ok(size <= max, `the log is ${size} bytes, over the cap of ${max}`);
  const text = readFileSync(path, "latin1");
  assert.match(text, /^\[the console log passed 65536 bytes and was cut here\]\r\n/);
  assert.ok(text.endsWith("spam\nthe last line\n"));
});
