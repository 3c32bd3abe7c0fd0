// Issue 19 item 1, Debian root disks: `corral image build --debian` makes an ext4 disk whose
// packages the guest itself configured, `corral run --image` (here through the API) boots it
// with the agent working, `corral image ls/rm` manage it; bad input stops before anything is
// written. The .debs stay in the Corral cache's apt state, so a second run fetches nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral } from "../src/api/index.js";
import { corralHome } from "../src/image/cache.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-debian-"));
const NAME = `test-debian-${process.pid}`;
const home = corralHome();
after(() => {
  corral(["image", "rm", NAME]);
  rmSync(dir, { recursive: true, force: true });
});

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 3_600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** Scratch directories of builds (staging.ts names them build-<pid>-*, .corral-build-<pid>-*). */
const scratches = (): string[] => [
  ...(existsSync(join(home, "tmp")) ? readdirSync(join(home, "tmp")).filter((f) => f.startsWith("build-")) : []),
  ...readdirSync(dir).filter((f) => f.startsWith(".corral-build")),
];

test("an unknown package stops the build before anything is written, with apt's error in one line", () => {
  const out = join(dir, "bad.img");
  const r = corral([
    "image",
    "build",
    "--debian",
    "trixie",
    "--packages",
    "hello,no-such-package-corral",
    "--output",
    out,
  ]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("corral:") && !/fetching|reading/.test(l));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /Unable to locate package no-such-package-corral/);
  assert.equal(existsSync(out), false);
  const byName = corral([
    "image",
    "build",
    "--debian",
    "trixie",
    "--packages",
    "no-such-package-corral",
    "--output",
    NAME,
  ]);
  assert.equal(byName.status, 2, byName.stderr);
  assert.equal(existsSync(join(home, "images", NAME)), false);
  assert.deepEqual(scratches(), []);
});

test("an existing output is refused unless --force, and left as it was", () => {
  const out = join(dir, "taken.img");
  writeFileSync(out, "mine");
  const r = corral(["image", "build", "--debian", "trixie", "--packages", "hello", "--output", out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /already exists: pass --force/);
  assert.equal(readFileSync(out, "utf8"), "mine");
  const bad = corral([
    "image",
    "build",
    "--debian",
    "trixie",
    "--packages",
    "Hello World",
    "--output",
    join(dir, "x.img"),
  ]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /is not a Debian package name/);
});

test("a Debian disk with extra packages: dpkg's database is whole, the agent runs commands, files and a terminal, lspci -vv over virtio-pci", async () => {
  const t0 = Date.now();
  const b = corral(["image", "build", "--debian", "trixie", "--packages", "hello,pciutils", "--output", NAME]);
  assert.equal(b.status, 0, b.stderr);
  process.stderr.write(`# debian image build: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  assert.deepEqual(scratches(), []);
  const ls = corral(["image", "ls"]);
  assert.match(ls.stdout, new RegExp(`^${NAME}\\s+debian\\s`, "m"));

  const vm = await Corral.start({ image: NAME, memory: "512M" });
  try {
    const audit = await vm.exec(["dpkg", "--audit"]);
    assert.equal(audit.exitCode, 0, audit.stderr);
    assert.equal(audit.stdout, "", "dpkg --audit finds nothing half-installed");
    const s = await vm.exec(["dpkg", "-s", "hello"]);
    assert.match(s.stdout, /^Status: install ok installed$/m);
    const all = await vm.exec(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\\n"]);
    assert.ok(
      all.stdout
        .split("\n")
        .filter(Boolean)
        .every((l) => l.trim() === "ii"),
      all.stdout,
    );
    const hello = await vm.exec(["hello"]);
    assert.equal(hello.stdout, "Hello, world!\n");
    // Debian's own programs, not busybox applets of the same name.
    const ls2 = await vm.exec(["ls", "--version"]);
    assert.match(ls2.stdout, /GNU coreutils/);
    await vm.files.write("/root/note", "written through the agent\n");
    assert.equal((await vm.files.read("/root/note")).toString(), "written through the agent\n");
    const tty = await vm.exec(["sh", "-c", "tty; stty size"], { tty: { rows: 33, cols: 101 } });
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r?\n33 101\r?\n$/);
  } finally {
    await vm.remove({ force: true });
  }
  // Issue 18 items 1 and 3: over virtio-pci, `lspci -vv` (Debian's pciutils) shows what a Linux
  // user expects of a PCIe device: its capabilities, BARs and driver.
  const pci = await Corral.start({ image: NAME, memory: "512M", transport: "pci" });
  try {
    const r = await pci.exec(["lspci", "-vv", "-nn", "-s", "00:01.0"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const out = r.stdout;
    for (const want of [
      /00:01\.0 SCSI storage controller \[0100\]: Red Hat, Inc\. Virtio 1\.0 block device \[1af4:1042\] \(rev 01\)/,
      /Subsystem: Red Hat, Inc\. QEMU \[1af4:1100\]/,
      /Control: I\/O- Mem\+ BusMaster\+/,
      /Interrupt: pin A routed to IRQ \d+/,
      /Region 1: Memory at 4[0-9a-f]{7} \(32-bit, non-prefetchable\) \[size=4K\]/,
      /Region 4: Memory at 4[0-9a-f]{8} \(64-bit, prefetchable\) \[size=16K\]/,
      /Capabilities: \[40\] Express \(v2\) Root Complex Integrated Endpoint/,
      /MSI-X: Enable- Count=2 Masked-/,
      /Vector table: BAR=1 offset=00000000/,
      /PBA: BAR=1 offset=00000800/,
      /Vendor Specific Information: VirtIO: CommonCfg/,
      /Vendor Specific Information: VirtIO: Notify/,
      /Vendor Specific Information: VirtIO: ISR/,
      /Vendor Specific Information: VirtIO: DeviceCfg/,
      /Kernel driver in use: virtio-pci/,
    ])
      assert.match(out, want);
    const all = await pci.exec(["lspci"]);
    assert.match(all.stdout, /00:00\.0 Host bridge: Red Hat, Inc\. QEMU PCIe Host bridge/);
  } finally {
    await pci.remove({ force: true });
  }
  // The disk was left clean: e2fsck finds nothing to replay or repair.
  const fsck = spawnSync("e2fsck", ["-fn", join(home, "images", NAME, "root.img")], { encoding: "utf8" });
  assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);

  const rm = corral(["image", "rm", NAME]);
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal(existsSync(join(home, "images", NAME)), false);
  assert.notEqual(corral(["image", "rm", NAME]).status, 0);
});
