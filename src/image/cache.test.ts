import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MANIFEST, VERIFIED, corralHome, sha256File, verifyImage, writeManifest } from "./cache.js";
import { isCorralError } from "../errors.js";

function withImage(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "corral-cache-"));
  try {
    writeFileSync(join(dir, "Image"), randomBytes(3_000_000));
    mkdirSync(join(dir, "modules/x"), { recursive: true });
    writeFileSync(join(dir, "modules/x/a.ko.xz"), randomBytes(1000));
    writeManifest(dir, {
      packages: { k: { version: "1", architecture: "riscv64" } },
      kernelRelease: "x",
      initramfsRecipe: "r",
    });
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const corruptCode = (e: unknown): boolean => isCorralError(e) && e.code === "IMAGE_CORRUPT";

test("sha256File agrees with sha256sum", () => {
  withImage((dir) => {
    const ref = execFileSync("sha256sum", [join(dir, "Image")], { encoding: "utf8" }).split(" ")[0];
    assert.equal(sha256File(join(dir, "Image")), ref);
  });
});

test("manifest lists every file with size and hash; verification passes", () => {
  withImage((dir) => {
    const m = verifyImage(dir, { full: true });
    assert.deepEqual(Object.keys(m.files), ["Image", "modules/x/a.ko.xz"]);
    const img = readFileSync(join(dir, "Image"));
    assert.deepEqual(m.files["Image"], { size: img.length, sha256: createHash("sha256").update(img).digest("hex") });
    assert.ok(statSync(join(dir, VERIFIED)).isFile());
    assert.deepEqual(verifyImage(dir), m); // the remembered-check path gives the same answer
  });
});

test("a flipped byte is found even when size and mtime are put back", () => {
  withImage((dir) => {
    verifyImage(dir); // remember a good check
    const path = join(dir, "Image");
    const before = statSync(path);
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([(readFileSync(path)[1000] ?? 0) ^ 0xff]), 0, 1, 1000);
    closeSync(fd);
    utimesSync(path, before.atime, before.mtime);
    assert.throws(
      () => verifyImage(dir),
      (e) => corruptCode(e) && /Image does not match its SHA-256/.test((e as Error).message),
    );
  });
});

test("truncated, missing and manifest damage are detected", () => {
  withImage((dir) => {
    truncateSync(join(dir, "Image"), 1000);
    assert.throws(
      () => verifyImage(dir),
      (e) => corruptCode(e) && /truncated/.test((e as Error).message),
    );
  });
  withImage((dir) => {
    rmSync(join(dir, "modules/x/a.ko.xz"));
    assert.throws(
      () => verifyImage(dir),
      (e) => corruptCode(e) && /is missing/.test((e as Error).message),
    );
  });
  withImage((dir) => {
    writeFileSync(join(dir, MANIFEST), "{ not json");
    assert.throws(() => verifyImage(dir), corruptCode);
  });
  withImage((dir) => {
    rmSync(join(dir, MANIFEST));
    assert.throws(
      () => verifyImage(dir),
      (e) => isCorralError(e) && e.code === "IMAGE_MISSING",
    );
  });
});

test("CORRAL_HOME overrides the default cache root", () => {
  assert.equal(corralHome({ CORRAL_HOME: "/x/y" }), "/x/y");
  assert.match(corralHome({}), /\/\.cache\/corral$/);
});
