import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ensureSystemMap } from "../image/system-map.js";
import { sharedImage } from "../image/testing.js";
import { KernelSymbols } from "./symbols.js";

test("the default image's System.map: a pc resolves to the function holding it, data and other text do not", async () => {
  const map = await ensureSystemMap(await sharedImage());
  assert.ok(map !== undefined);
  const text = readFileSync(map, "latin1");
  const syms = KernelSymbols.parse(text);
  assert.ok(syms !== null);
  const line = (name: string): [number, string] => {
    const m = new RegExp(`^([0-9a-f]{16}) (\\S) ${name}$`, "m").exec(text);
    assert.ok(m, name);
    return [Number(BigInt.asIntN(64, BigInt(`0x${m[1]!}`))), m[2]!];
  };
  const [start] = line("start_kernel");
  assert.equal(syms.names[syms.lookup(start)], "start_kernel");
  assert.equal(syms.names[syms.lookup(start + 2)], "start_kernel");
  assert.equal(syms.lookup(line("_end")[0]), -1, "past the kernel image: a module's pc");
  assert.equal(syms.lookup(0x10000), -1, "a user pc");
  assert.equal(syms.initTask, line("init_task")[0]);
});

test("Debian's placeholder System.map holds no code symbols", () => {
  assert.equal(
    KernelSymbols.parse("ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"),
    null,
  );
});
