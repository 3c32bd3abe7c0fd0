import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinModules, indexModules, modinfo, readModule, resolveModules } from "./modules.js";
import { sharedImage } from "./testing.js";
import { isCorralError } from "../errors.js";

/** binutils' view of a module's .modinfo "depends=" (the reference for our ELF-based reader). */
function readelfDepends(ko: Uint8Array): string[] {
  const dir = mkdtempSync(join(tmpdir(), "corral-ko-"));
  try {
    writeFileSync(join(dir, "m.ko"), ko);
    const dump = execFileSync("riscv64-unknown-elf-readelf", ["-p", ".modinfo", join(dir, "m.ko")], {
      encoding: "utf8",
    });
    const dep = /\]\s+depends=(\S*)/.exec(dump)?.[1] ?? "";
    return dep.split(",").filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("module dependencies read from .modinfo agree with readelf", async () => {
  const img = await sharedImage();
  const index = indexModules(img.modulesDir);
  for (const name of ["virtio_net", "virtio_blk", "vmw_vsock_virtio_transport", "virtio_balloon"]) {
    const path = index.get(name);
    assert.ok(path, name);
    const ko = readModule(path);
    assert.deepEqual(
      modinfo(ko)
        .get("depends")
        ?.flatMap((d) => d.split(","))
        .filter(Boolean) ?? [],
      readelfDepends(ko),
      name,
    );
    assert.equal(modinfo(ko).get("name")?.[0], name);
  }
});

test("resolution puts dependencies first, once, and skips built-in modules", async () => {
  const img = await sharedImage();
  const builtin = builtinModules(img.modulesDir);
  assert.ok(builtin.has("virtio_ring") && builtin.has("virtio"), "virtio core is built in");
  const mods = resolveModules(img.modulesDir, ["virtio_net", "virtio-blk", "virtio_mmio", "virtio_net", "virtio"]);
  const names = mods.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, "no duplicates");
  assert.ok(!names.includes("virtio"));
  // Every module comes after everything it depends on.
  for (const [i, m] of mods.entries()) {
    for (const dep of readelfDepends(m.data))
      assert.ok(names.indexOf(dep) >= 0 && names.indexOf(dep) < i, `${dep} before ${m.name}`);
  }
  assert.ok(names.includes("net_failover") && names.includes("failover"));
  // Decompressed modules are RISC-V ELF relocatables.
  for (const m of mods) assert.deepEqual([...m.data.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
});

test("an unknown module is MODULE_NOT_FOUND", async () => {
  const img = await sharedImage();
  assert.throws(
    () => resolveModules(img.modulesDir, ["no_such_module"]),
    (e) => isCorralError(e) && e.code === "MODULE_NOT_FOUND",
  );
});
