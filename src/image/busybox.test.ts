import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { REQUIRED_APPLETS, busyboxApplets } from "./busybox.js";
import { sharedImage } from "./testing.js";
import { isCorralError } from "../errors.js";

test("the applet table read from the host's busybox equals its own --list", () => {
  // The host busybox can run, so it is the reference for the parser.
  const listed = execFileSync("busybox", ["--list"], { encoding: "utf8" }).trim().split("\n").sort();
  const path = execFileSync("sh", ["-c", "command -v busybox"], { encoding: "utf8" }).trim();
  const parsed = busyboxApplets(new Uint8Array(readFileSync(path)))
    .filter((a) => a !== "busybox")
    .sort();
  assert.deepEqual(
    parsed,
    listed.filter((a) => a !== "busybox"),
  );
});

test("Debian's riscv64 busybox-static has every applet Corral needs", async () => {
  const img = await sharedImage();
  const applets = busyboxApplets(new Uint8Array(readFileSync(img.busybox)));
  for (const a of REQUIRED_APPLETS) assert.ok(applets.includes(a), a);
  assert.ok(applets.length > 200, `${applets.length} applets`);
});

test("a binary that is not busybox is refused", () => {
  assert.throws(
    () => busyboxApplets(new Uint8Array(readFileSync("/bin/ls"))),
    (e) => isCorralError(e) && e.code === "IMAGE_BAD_BUSYBOX",
  );
});
