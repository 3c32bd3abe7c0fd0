import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { entryFile } from "./entry.js";

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
