import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { readKallsyms, systemMapText } from "./kallsyms.js";
import { sharedImage } from "./testing.js";

test("the default kernel's kallsyms tables: every symbol, in address order, spanning the Image its header sizes", async () => {
  const img = await sharedImage();
  const image = readFileSync(img.kernel);
  const syms = readKallsyms(new Uint8Array(image));
  assert.ok(syms !== null && syms.length > 10_000, "a distribution kernel has tens of thousands of symbols");
  for (let i = 1; i < syms.length; i++) assert.ok(syms[i - 1]!.addr <= syms[i]!.addr, `sorted at ${i}`);
  const at = (name: string): bigint => {
    const s = syms.find((x) => x.name === name);
    assert.ok(s, name);
    return s.addr;
  };
  // The RISC-V Image header's image_size (Documentation/arch/riscv/boot-image-header.rst) is
  // the loaded kernel's size, _start to _end.
  assert.equal(at("_end") - at("_start"), image.readBigUInt64LE(16));
  assert.ok(at("_stext") < at("start_kernel") && at("start_kernel") < at("_end"));
  assert.ok(syms.every((s) => /^[a-zA-Z]$/.test(s.type) && s.name.length > 0));
  const text = systemMapText(syms.slice(0, 2));
  assert.match(text, /^[0-9a-f]{16} [a-zA-Z] \S+\n[0-9a-f]{16} [a-zA-Z] \S+\n$/);
});

test("a file without kallsyms tables gives null", async () => {
  const img = await sharedImage();
  assert.equal(readKallsyms(new Uint8Array(readFileSync(img.busybox))), null);
  assert.equal(readKallsyms(new Uint8Array(4096)), null);
});
