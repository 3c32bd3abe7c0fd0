// Snapshots and restores with a real guest (issue 16 item 3): a running VM that wrote a file in
// its tmpfs and bytes on its disk is snapshotted, restored twice under two names, and each restore
// answers exec at once with that state; what one restore (or the parent, which runs on) writes,
// in RAM or on disk, never shows in another. A damaged, truncated or other-version snapshot, and
// one whose disk changed, is refused in one line with nothing left behind; a snapshot into a full
// file system fails and the VM runs on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral, type Vm } from "../../src/api/index.js";
import { SNAPSHOT_VERSION } from "../../src/snapshot/format.js";
import { vmDir } from "../../src/vm/state.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-snapshot-"));
const NAME = `t-snap-${process.pid}`;
const disk = join(dir, "disk.img");
const snap = join(dir, "s1");
const full = join(dir, "full");
const vms: Vm[] = [];
let parent: Vm;

function corral(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 300_000 });
}

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Write `text` at 512-byte sector `sector` of the guest's /dev/vda, past its caches. */
async function writeSector(vm: Vm, sector: number, text: string): Promise<void> {
  const r = await vm.exec([
    "sh",
    "-c",
    `printf '%s' '${text}' | dd of=/dev/vda bs=512 seek=${sector} count=1 conv=fsync,notrunc 2>&1 && sync`,
  ]);
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
}

/** The first bytes of sector `sector` as the disk holds them (the guest's page cache dropped first). */
async function readSector(vm: Vm, sector: number, n: number): Promise<string> {
  const r = await vm.exec([
    "sh",
    "-c",
    `sync; echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=512 skip=${sector} count=1 2>/dev/null | head -c ${n}`,
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout;
}

async function remove(vm: Vm): Promise<void> {
  await vm.stop();
  vms.splice(vms.indexOf(vm), 1);
  rmSync(vmDir(vm.name), { recursive: true, force: true });
}

async function mark(vm: Vm): Promise<string> {
  const r = await vm.exec(["cat", "/tmp/mark"]);
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  writeFileSync(disk, Buffer.alloc(4 << 20));
  parent = await Corral.start({ name: NAME, memory: "256M", disks: [disk] });
  vms.push(parent);
  const r = await parent.exec(["sh", "-c", "echo parent > /tmp/mark"]);
  assert.equal(r.exitCode, 0, r.stderr);
  await writeSector(parent, 0, "PARENTDISK");
});

after(async () => {
  spawnSync("umount", [full]);
  for (const vm of vms.reverse()) await vm.stop().catch(() => {});
  for (const n of ["", "-r1", "-r2", "-r3", "-bad"]) rmSync(vmDir(NAME + n), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

test("a snapshot restored twice: each restore has the parent's state, and writes stay where they were made", async () => {
  await parent.snapshot(snap);
  const base = sha(disk);
  // The parent runs on, on a new overlay over its frozen disk.
  await writeSector(parent, 8, "PARENTAFTER");
  const r = await parent.exec(["sh", "-c", "echo parent-after > /tmp/mark"]);
  assert.equal(r.exitCode, 0);

  const r1 = await Corral.restore(snap, { name: `${NAME}-r1` });
  vms.push(r1);
  // The agent answers the first exec straight after the restore, with the snapshot's RAM.
  assert.equal(await mark(r1), "parent");
  const r2 = await Corral.restore(snap, { name: `${NAME}-r2` });
  vms.push(r2);
  assert.equal(await mark(r2), "parent");
  assert.equal(await readSector(r1, 0, 10), "PARENTDISK");
  assert.equal(await readSector(r2, 0, 10), "PARENTDISK");

  const w = await r1.exec(["sh", "-c", "echo r1 > /tmp/mark"]);
  assert.equal(w.exitCode, 0);
  await writeSector(r1, 16, "R1DISK");

  assert.equal(await mark(r1), "r1");
  assert.equal(await mark(r2), "parent");
  assert.equal(await mark(parent), "parent-after");
  assert.notEqual(await readSector(r2, 16, 6), "R1DISK");
  assert.notEqual(await readSector(parent, 16, 6), "R1DISK");
  assert.notEqual(await readSector(r1, 8, 11), "PARENTAFTER");
  assert.notEqual(await readSector(r2, 8, 11), "PARENTAFTER");
  assert.equal(await readSector(parent, 8, 11), "PARENTAFTER");
  // The frozen base is never written again.
  assert.equal(sha(disk), base);
  const hn = await r2.exec(["sh", "-c", 'test "$(date +%s)" -ge ' + String(Math.floor(Date.now() / 1000) - 60)]);
  assert.equal(hn.exitCode, 0, "the restored guest's wall clock was set again");
});

test("a second snapshot of the parent, now on an overlay, copies it: its restore sees the parent's later writes", async () => {
  const s2 = join(dir, "s2");
  await parent.snapshot(s2);
  assert.ok(existsSync(join(s2, "disk0.ovl")), "the overlay is copied into the snapshot");
  const r3 = await Corral.restore(s2, { name: `${NAME}-r3` });
  vms.push(r3);
  assert.equal(await mark(r3), "parent-after");
  assert.equal(await readSector(r3, 8, 11), "PARENTAFTER");
  await writeSector(r3, 24, "R3DISK");
  assert.notEqual(await readSector(parent, 24, 6), "R3DISK");
  await remove(r3);
});

/** A copy of the snapshot (RAM hard-linked unless it is to be damaged) with `change` applied. */
function variant(name: string, change: (d: string) => void, copyRam = false): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const f of ["manifest.json", "state.json"]) copyFileSync(join(snap, f), join(d, f));
  if (copyRam) copyFileSync(join(snap, "ram.bin"), join(d, "ram.bin"));
  else linkSync(join(snap, "ram.bin"), join(d, "ram.bin"));
  change(d);
  return d;
}

function refused(d: string, code: RegExp): void {
  const r = corral("restore", d, "--name", `${NAME}-bad`);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, code);
  assert.equal(existsSync(vmDir(`${NAME}-bad`)), false, "nothing is left behind");
}

test("another version, a truncated part, a corrupt RAM file or a changed disk: refused, nothing left", () => {
  refused(
    variant("vnext", (d) => {
      const m = JSON.parse(readFileSync(join(d, "manifest.json"), "utf8")) as { version: number };
      m.version = SNAPSHOT_VERSION + 1;
      writeFileSync(join(d, "manifest.json"), JSON.stringify(m));
    }),
    new RegExp(`version ${SNAPSHOT_VERSION + 1}.*version ${SNAPSHOT_VERSION}`),
  );
  refused(
    variant("trunc", (d) => truncateSync(join(d, "state.json"), 100)),
    /state\.json has 100 bytes.*truncated/,
  );
  refused(
    variant(
      "flip",
      (d) => {
        const fd = openSync(join(d, "ram.bin"), "r+");
        writeSync(fd, Buffer.from("corrupt"), 0, 7, 12345);
        closeSync(fd);
      },
      true,
    ),
    /ram\.bin does not match its checksum/,
  );
  refused(join(dir, "nothing-here"), /holds no snapshot/);
  // Last: the frozen disk modified under the snapshot.
  const t = new Date();
  utimesSync(disk, t, t);
  refused(snap, /disk .* changed since/);
});

test("snapshot refusals: a VM not running, a directory that exists, a full file system (the VM runs on)", async () => {
  let r = corral("snapshot", `${NAME}-none`, join(dir, "x"));
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /no running VM/);
  r = corral("snapshot", NAME, snap);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /already exists/);

  mkdirSync(full);
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", full], { encoding: "utf8" });
  assert.equal(m.status, 0, m.stderr);
  try {
    r = corral("snapshot", NAME, join(full, "s"));
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /no space left/);
    assert.equal(existsSync(join(full, "s")), false, "the partial snapshot is removed");
  } finally {
    spawnSync("umount", [full]);
  }
  assert.equal(await mark(parent), "parent-after");
});
