import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CPIO_FIELDS, CPIO_HEADER_SIZE, CpioWriter, S_IF, readCpio } from "./cpio.js";
import { isCorralError } from "../errors.js";

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "corral-cpio-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Unpack with GNU cpio as the kernel's initramfs code would: make directories, keep modes. */
function extract(archive: Uint8Array, into: string): void {
  mkdirSync(into);
  execFileSync("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], { cwd: into, input: archive });
}

test("newc header is the magic plus thirteen 8-digit fields", () => {
  assert.equal(CPIO_FIELDS.length, 13);
  assert.equal(CPIO_HEADER_SIZE, 110);
  const a = new CpioWriter().file("x", new Uint8Array([1])).finish();
  assert.equal(a.length % 4, 0);
  assert.equal(new TextDecoder().decode(a.subarray(0, 6)), "070701");
});

test("real cpio extracts files, modes, symlinks, device nodes and implicit parents", () => {
  withTmp((dir) => {
    const big = new Uint8Array(randomBytes(100_003)); // not a multiple of 4: exercises padding
    const w = new CpioWriter()
      .dir("/proc")
      .dir("tmp", 0o1777)
      .file("/bin/busybox", big, 0o755)
      .symlink("/bin/sh", "busybox")
      .file("etc/motd", new TextEncoder().encode("hello\n"))
      .file("a/b/c/deep.txt", new TextEncoder().encode("x"), 0o600)
      .charDevice("dev/console", 5, 1, 0o600)
      .charDevice("dev/null", 1, 3, 0o666);
    const archive = w.finish();
    const root = join(dir, "root");
    extract(archive, root);

    assert.deepEqual(new Uint8Array(readFileSync(join(root, "bin/busybox"))), big);
    assert.equal(lstatSync(join(root, "bin/busybox")).mode & 0o7777, 0o755);
    assert.equal(readlinkSync(join(root, "bin/sh")), "busybox");
    assert.ok(lstatSync(join(root, "bin/sh")).isSymbolicLink());
    assert.equal(readFileSync(join(root, "etc/motd"), "utf8"), "hello\n");
    assert.equal(lstatSync(join(root, "a/b/c/deep.txt")).mode & 0o7777, 0o600);
    assert.ok(lstatSync(join(root, "a/b")).isDirectory());
    assert.equal(lstatSync(join(root, "tmp")).mode & 0o7777, 0o1777);
    assert.ok(lstatSync(join(root, "proc")).isDirectory());
    const con = lstatSync(join(root, "dev/console"));
    assert.ok(con.isCharacterDevice());
    assert.equal(con.mode & 0o7777, 0o600);
    const nul = lstatSync(join(root, "dev/null"));
    assert.ok(nul.isCharacterDevice());
    // st_rdev on Linux: major in bits 8..19, minor in the low 8 bits (for small numbers).
    assert.deepEqual([nul.rdev >> 8, nul.rdev & 0xff], [1, 3]);
    assert.deepEqual([con.rdev >> 8, con.rdev & 0xff], [5, 1]);
  });
});

test("our reader agrees with an archive made by real cpio -o -H newc", () => {
  withTmp((dir) => {
    const src = join(dir, "src");
    mkdirSync(join(src, "d"), { recursive: true });
    writeFileSync(join(src, "d/f"), "data!");
    symlinkSync("d/f", join(src, "l"));
    const made = execFileSync("cpio", ["-o", "-H", "newc", "--quiet"], { cwd: src, input: "d\nd/f\nl\n" });
    const entries = readCpio(new Uint8Array(made));
    assert.deepEqual(
      entries.map((e) => e.name),
      ["d", "d/f", "l"],
    );
    assert.equal(new TextDecoder().decode(entries[1]?.data), "data!");
    assert.equal((entries[2]?.mode ?? 0) & 0o170000, S_IF.LNK);
    assert.equal(new TextDecoder().decode(entries[2]?.data), "d/f");
  });
});

test("parents come first, inode numbers are stable, repeated paths replace", () => {
  const build = (): Uint8Array =>
    new CpioWriter()
      .file("x/y/z", new Uint8Array([1, 2]))
      .dir("x", 0o700)
      .file("x/y/z", new Uint8Array([3]))
      .finish();
  const a = build();
  assert.deepEqual(a, build());
  const entries = readCpio(a);
  assert.deepEqual(
    entries.map((e) => [e.name, e.ino, e.mode]),
    [
      ["x", 1, S_IF.DIR | 0o700],
      ["x/y", 2, S_IF.DIR | 0o755],
      ["x/y/z", 3, S_IF.REG | 0o644],
    ],
  );
  assert.deepEqual(entries[2]?.data, new Uint8Array([3]));
});

test("bad paths are refused", () => {
  const isBadPath = (e: unknown): boolean => isCorralError(e) && e.code === "CPIO_BAD_PATH";
  assert.throws(() => new CpioWriter().file("../etc/passwd", new Uint8Array(0)), isBadPath);
  assert.throws(() => new CpioWriter().file("/", new Uint8Array(0)), isBadPath);
  assert.throws(() => new CpioWriter().file("f", new Uint8Array(0)).file("f/g", new Uint8Array(0)), isBadPath);
});
