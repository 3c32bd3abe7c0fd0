import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RawDisk } from "./raw.js";
import { scratchDir, smallTmpfs } from "../devices/virtio/testing/scratch-fs.js";

test("missing and directory images give clear CorralErrors", (t) => {
  const dir = scratchDir(t, "raw");
  assert.throws(() => RawDisk.open(join(dir, "nope.img")), { code: "DISK_NOT_FOUND", message: /does not exist/ });
  assert.throws(
    () => RawDisk.open(dir),
    (e: unknown) => ["DISK_NOT_A_FILE", "DISK_UNREADABLE"].includes((e as { code: string }).code),
  );
});

test("size is whole sectors; reads past a short file read zeros", (t) => {
  const path = join(scratchDir(t, "raw"), "odd.img");
  writeFileSync(path, new Uint8Array(1000).fill(7));
  const d = RawDisk.open(path);
  t.after(() => d.close());
  assert.equal(d.size, 512);
});

test("an image open read-write is refused to a second opener, read-only or not, until closed", (t) => {
  const path = join(scratchDir(t, "raw"), "a.img");
  writeFileSync(path, new Uint8Array(4096));
  const a = RawDisk.open(path);
  assert.throws(() => RawDisk.open(path), { code: "DISK_IN_USE" });
  assert.throws(() => RawDisk.open(path, { readOnly: true }), {
    code: "DISK_IN_USE",
    message: /open read-write by another Corral VM/,
  });
  a.close();
  a.close(); // idempotent
  const r1 = RawDisk.open(path, { readOnly: true });
  const r2 = RawDisk.open(path, { readOnly: true });
  assert.throws(() => RawDisk.open(path), { code: "DISK_IN_USE" }, "a writer waits for the readers");
  r1.close();
  r2.close();
  RawDisk.open(path).close();
  assert.deepEqual(readdirSync(join(path, "..")), ["a.img"], "no lock file left behind");
});

test("the lock of a killed process goes away with it", async (t) => {
  const path = join(scratchDir(t, "raw"), "b.img");
  writeFileSync(path, new Uint8Array(4096));
  const mod = fileURLToPath(new URL("./raw.js", import.meta.url));
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { RawDisk } = await import(${JSON.stringify(mod)}); RawDisk.open(${JSON.stringify(path)}); console.log("locked"); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => child.kill("SIGKILL"));
  await once(child.stdout, "data");
  assert.throws(() => RawDisk.open(path), { code: "DISK_IN_USE" });
  child.kill("SIGKILL");
  await once(child, "exit");
  RawDisk.open(path).close();
});

test("a raw image on a full file system fails the write with a host error, reads go on", (t) => {
  const mnt = smallTmpfs(t, "256k");
  if (mnt === null) return;
  const path = join(mnt, "sparse.img");
  writeFileSync(path, "");
  truncateSync(path, 4 << 20); // sparse: blocks are only needed when written
  const d = RawDisk.open(path);
  try {
    assert.throws(
      () => {
        for (let at = 0; at < 4 << 20; at += 65536) d.write(at, new Uint8Array(65536).fill(1));
      },
      { code: "ENOSPC" },
    );
    // A vectored write fills what space is left (a short pwritev), then fails the same way.
    assert.throws(() => d.writev(0, [new Uint8Array(4096).fill(2), new Uint8Array(1 << 20).fill(2)]), {
      code: "ENOSPC",
    });
    const b = new Uint8Array(512);
    d.read(0, b);
    assert.ok(b.every((x) => x === 2));
  } finally {
    d.close(); // before the unmount
  }
});
