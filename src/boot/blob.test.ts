/**
 * Boot images read straight from their files into guest RAM (src/boot/blob.ts) land exactly as
 * the same bytes copied from memory do, and are refused the same way.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { GuestRam } from "../machine/memory.js";
import type { BlobFile } from "./blob.js";
import { IMAGE_HEADER, loadKernel, placeBlob } from "./kernel.js";

const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), "corral-blob-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file holding `bytes`, opened for a test (closed after it). */
function opened(t: { after: (f: () => void) => void }, bytes: Uint8Array, size = bytes.length): BlobFile {
  const path = join(dir, `f${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, bytes);
  const fd = openSync(path, "r");
  t.after(() => closeSync(fd));
  return { fd, size };
}

/** A RISC-V Linux Image (Documentation/arch/riscv/boot-image-header.rst): text_offset 2 MiB, then payload. */
function image(len: number, imageSize: number): Uint8Array {
  const b = randomBytes(len);
  b.fill(0, 0, IMAGE_HEADER.size);
  b.writeBigUInt64LE(0x20_0000n, IMAGE_HEADER.textOffset);
  b.writeBigUInt64LE(BigInt(imageSize), IMAGE_HEADER.imageSize);
  b.write("RISCV\0\0\0", IMAGE_HEADER.magic, "latin1");
  b.write("RSC\x05", IMAGE_HEADER.magic2, "latin1");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

test("a kernel Image read from its file lands as the same bytes copied from memory", (t) => {
  const k = image(3 * MiB + 123, 4 * MiB);
  const fromBytes = new GuestRam(16 * MiB);
  const fromFile = new GuestRam(16 * MiB);
  const a = loadKernel(fromBytes, k, "Image");
  const b = loadKernel(fromFile, opened(t, k), "Image");
  assert.deepEqual(b, a);
  assert.deepEqual(b, {
    entry: fromFile.base + 0x20_0000,
    start: fromFile.base + 0x20_0000,
    end: fromFile.base + 6 * MiB,
  });
  assert.ok(Buffer.from(fromFile.u8).equals(Buffer.from(fromBytes.u8)));
  assert.ok(Buffer.from(fromFile.slice(a.start, k.length)).equals(Buffer.from(k)));
});

test("an initrd read from its file is placed as its bytes are, and one too large is refused in one line", (t) => {
  const initrd = new Uint8Array(randomBytes(2 * MiB + 7));
  const fromBytes = new GuestRam(8 * MiB);
  const fromFile = new GuestRam(8 * MiB);
  const at = fromFile.base + 4 * MiB;
  const hint = (n: string): string => `raise ${n} or use a smaller initrd`;
  const a = placeBlob(fromBytes, initrd, "initrd", at, fromBytes.end, "initrd", hint);
  const b = placeBlob(fromFile, opened(t, initrd), "initrd", at, fromFile.end, "initrd", hint);
  assert.deepEqual(b, a);
  assert.ok(Buffer.from(fromFile.u8).equals(Buffer.from(fromBytes.u8)));
  const big = opened(t, new Uint8Array(5 * MiB));
  assert.throws(
    () => placeBlob(fromFile, big, "initrd", at, fromFile.end, "initrd", hint),
    (e: Error) => {
      assert.equal((e as Error & { code: string }).code, "IMAGE_TOO_LARGE");
      assert.equal(
        e.message,
        "the initrd (5.0 MiB) does not fit in guest memory (8 MiB); raise memory or use a smaller initrd",
      );
      return true;
    },
  );
});

test("a file shorter than the size taken of it (it shrank before the read) is refused", (t) => {
  const ram = new GuestRam(8 * MiB);
  const shrunk = opened(t, new Uint8Array(4096), 8192);
  assert.throws(
    () => placeBlob(ram, shrunk, "initrd.cpio", ram.base + MiB, ram.end, "initrd", (n) => `raise ${n}`),
    (e: Error) => (e as Error & { code: string }).code === "IMAGE_CHANGED" && /^initrd\.cpio shrank/.test(e.message),
  );
  const k = image(64 * 1024, 64 * 1024);
  assert.throws(
    () => loadKernel(ram, opened(t, k, k.length + 4096), "Image"),
    (e: Error) => (e as Error & { code: string }).code === "IMAGE_CHANGED",
  );
});
