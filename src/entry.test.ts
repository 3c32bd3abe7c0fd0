import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { WRAPPER_HEAD, WRAPPER_TAIL, entryFile, loadBundle, wrappedSource } from "./entry.js";

const dir = mkdtempSync(join(tmpdir(), "corral-entry-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the bundle runs when it is at least as new as tsc's entry; tsc's file when it is older or missing", () => {
  const bundled = join(dir, "bundle.js");
  const compiled = join(dir, "main.js");
  writeFileSync(compiled, "");
  writeFileSync(bundled, "");
  const [b, c] = [pathToFileURL(bundled), pathToFileURL(compiled)];
  utimesSync(compiled, 1000, 1000);
  utimesSync(bundled, 2000, 2000);
  assert.equal(entryFile(b, c), b);
  // A bare `npx tsc` after a change rewrites the entry: the bundle is stale.
  utimesSync(compiled, 3000, 3000);
  assert.equal(entryFile(b, c), c);
  rmSync(bundled);
  assert.equal(entryFile(b, c), c);
});

test("a bundle that carries the wrapper compiles as it is, line for line; one without it is wrapped", () => {
  const body = 'exports.where = () => new Error("x").stack.split("\\n")[1];\n';
  const wrapped = Buffer.from(`${WRAPPER_HEAD}\n${body}${WRAPPER_TAIL}\n`);
  const plain = Buffer.from(body);
  const w = wrappedSource(wrapped);
  assert.equal(w.text, wrapped.toString());
  assert.equal(w.lineOffset, 0);
  const p = wrappedSource(plain);
  assert.equal(p.text, `${WRAPPER_HEAD}\n${body}\n${WRAPPER_TAIL}`);
  assert.equal(p.lineOffset, -1);
  // A file with the head but not the tail (cut short) is wrapped, not compiled as it is.
  assert.equal(wrappedSource(Buffer.from(`${WRAPPER_HEAD}\n${body}`)).lineOffset, -1);
  // Both ways, a stack names the line (no code cache: it would be written at this process's exit,
  // after this file's directory is gone) of the file that holds the code: line 2 with the wrapper
  // in the file, line 1 without.
  for (const [file, line] of [
    [wrapped, 2],
    [plain, 1],
  ] as const) {
    process.env.CORRAL_CODE_CACHE = "0";
    const path = join(dir, `bundle-${line}.cjs`);
    writeFileSync(path, file);
    const exports = loadBundle(pathToFileURL(path), "test") as { where: () => string };
    assert.match(exports.where(), new RegExp(`bundle-${line}\\.cjs:${line}:`));
  }
});
