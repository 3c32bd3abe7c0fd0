import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { phaseOfFrame } from "./host.js";
import { checkProfilePath, systemMapBeside } from "./profile.js";

const dir = mkdtempSync(join(tmpdir(), "corral-profile-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("checkProfilePath: a new file is checked and not left behind; an existing one is kept as it is", () => {
  const fresh = join(dir, "new.txt");
  assert.equal(checkProfilePath(fresh), fresh);
  assert.equal(existsSync(fresh), false);
  const old = join(dir, "old.txt");
  writeFileSync(old, "keep");
  checkProfilePath(old);
  assert.equal(readFileSync(old, "utf8"), "keep");
});

test("checkProfilePath refuses a directory, a missing directory and /proc with BAD_PROFILE_PATH", () => {
  for (const bad of [dir, join(dir, "missing", "p.txt"), "/proc/version"])
    assert.throws(
      () => checkProfilePath(bad),
      (e: Error & { code?: string; exitCode?: number }) => e.code === "BAD_PROFILE_PATH" && e.exitCode === 2,
    );
});

test("systemMapBeside: System.map-<release> for vmlinux-<release>, else System.map, else a note", () => {
  const k = join(dir, "vmlinux-6.1-x");
  writeFileSync(k, "");
  assert.match(systemMapBeside(k).note ?? "", /no System\.map beside/);
  writeFileSync(join(dir, "System.map"), "");
  assert.equal(systemMapBeside(k).systemMap, join(dir, "System.map"));
  writeFileSync(join(dir, "System.map-6.1-x"), "");
  assert.equal(systemMapBeside(k).systemMap, join(dir, "System.map-6.1-x"));
});

test("phaseOfFrame: the wasm tier's services run the guest; its compiling functions compile", () => {
  const frame = (functionName: string): Parameters<typeof phaseOfFrame>[0] => ({
    functionName,
    url: "file:///w/dist/src/cpu/wasm/tier.js",
  });
  for (const fn of ["run", "call", "load", "store"]) assert.equal(phaseOfFrame(frame(fn)), "compiled code (wasm)", fn);
  for (const fn of ["flush", "compile"]) assert.equal(phaseOfFrame(frame(fn)), "wasm compile", fn);
});
