// Shared folders (issue 19 item 3): a real guest (the default image) mounts host directories
// through virtio-fs. The same busybox script runs on the share in the guest and on the host, and
// the outputs are compared; a large file's checksum agrees both ways; symlinks, ".." and a
// directory swapped for a symlink during the guest's use lead nowhere outside the share; a
// read-only share refuses every write. Bad --share arguments fail in one line, booting nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral } from "../../src/api/index.js";
import { vmDir } from "../../src/vm/state.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const SCRIPT = readFileSync(fileURLToPath(new URL("../../../tests/share/posix.sh", import.meta.url)), "utf8");
const base = mkdtempSync(join(tmpdir(), "corral-share-"));
after(() => rmSync(base, { recursive: true, force: true }));
const rw = join(base, "rw");
const ro = join(base, "ro");
const hostRun = join(base, "host");
const outside = join(base, "outside");
for (const d of [rw, ro, hostRun, outside]) mkdirSync(d);
const MARKER = `HOST-ONLY-${randomBytes(8).toString("hex")}`;
writeFileSync(join(outside, "marker"), MARKER);

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("hex");

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 60_000 });
}

test("bad --share arguments: one line, exit 2, no VM left behind", () => {
  const file = join(base, "file");
  writeFileSync(file, "");
  const cases: [string[], RegExp][] = [
    [["--share", join(base, "missing") + ":t"], /^corral: shared directory .*missing does not exist\n$/],
    [["--share", `${file}:t`], /^corral: .*file is not a directory: share a directory\n$/],
    [["--share", `${rw}:`], /^corral: --share '.*': use --share HOST_DIR:TAG\[,ro\]\n$/],
    [["--share", rw], /^corral: --share '.*': use --share HOST_DIR:TAG\[,ro\]\n$/],
    [
      ["--share", `${rw}:${"x".repeat(37)}`],
      /^corral: --share 'x{37}' must be 1 to 36 bytes \(UTF-8\), without NUL\n$/,
    ],
    [["--share", `${rw}:t`, "--share", `${ro}:t`], /^corral: --share 't' is already the tag of devices\[\d+\]/],
  ];
  for (const [args, want] of cases) {
    for (const detach of [[], ["-d", "--name", `t-share-bad-${process.pid}`]]) {
      const r = corral(["run", ...detach, ...args]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      // A detached start names the VM that did not start, then says why.
      assert.match(r.stderr.replace(/^corral: VM '[^']+' did not start: /, "corral: "), want);
      assert.equal(r.stdout, "");
    }
  }
  assert.ok(!existsSync(vmDir(`t-share-bad-${process.pid}`)), "no VM directory");
});

test("a guest mounts shares: POSIX behaviour as on the host, checksums, no escape, read-only refused", async () => {
  writeFileSync(join(ro, "keep"), "read-only content");
  const big = randomBytes(6 * 2 ** 20);
  writeFileSync(join(rw, "big"), big);
  writeFileSync(join(base, "posix.sh"), SCRIPT);
  symlinkSync(join(outside, "marker"), join(rw, "abs-escape"));
  symlinkSync("../outside/marker", join(rw, "rel-escape"));
  mkdirSync(join(rw, "swap"));

  const name = `t-share-${process.pid}`;
  const vm = await Corral.start({
    name,
    memory: "256M",
    shares: [`${rw}:rw`, `${ro}:ro,ro`],
  });
  try {
    const sh = (cmd: string, opts = {}) => vm.exec(["sh", "-c", cmd], opts);
    const m = await sh(
      "mkdir -p /mnt/rw /mnt/ro && mount -t virtiofs rw /mnt/rw && mount -t virtiofs ro /mnt/ro && grep virtiofs /proc/mounts",
    );
    assert.equal(m.exitCode, 0, m.stderr);
    assert.match(m.stdout, /^rw \/mnt\/rw virtiofs/m);

    // The POSIX script, guest on the share and host on a sibling directory of the same file system.
    await vm.files.write("/tmp/posix.sh", SCRIPT);
    const guest = await sh("sh /tmp/posix.sh /mnt/rw");
    assert.equal(guest.exitCode, 0, guest.stderr + guest.stdout);
    const host = spawnSync("busybox", ["sh", join(base, "posix.sh"), hostRun], { encoding: "utf8" });
    assert.equal(host.status, 0, host.stderr);
    assert.equal(guest.stdout, host.stdout);
    assert.match(host.stdout, /hard link shares the inode/);

    // A large file both ways.
    const sums = await sh(
      "md5sum /mnt/rw/big | cut -d' ' -f1; dd if=/dev/urandom of=/mnt/rw/from-guest bs=64k count=64 2>/dev/null; md5sum /mnt/rw/from-guest | cut -d' ' -f1",
    );
    assert.equal(sums.exitCode, 0, sums.stderr);
    const [bigSum, guestSum] = sums.stdout.trim().split("\n");
    assert.equal(bigSum, md5(big));
    assert.equal(guestSum, md5(readFileSync(join(rw, "from-guest"))));

    // Symlinks and "..": the guest resolves them in its own tree, never reaching the host's.
    const esc = await sh(
      "cat /mnt/rw/abs-escape /mnt/rw/rel-escape /mnt/rw/../outside/marker; readlink /mnt/rw/abs-escape",
    );
    assert.doesNotMatch(esc.stdout, new RegExp(MARKER));
    assert.equal(esc.stdout.trim(), join(outside, "marker"), "the link itself is served as written");

    // A directory the guest is inside is swapped on the host for a symlink to outside.
    const inside = sh(
      "cd /mnt/rw/swap && touch ready && while [ ! -e /mnt/rw/go ]; do sleep 0.2; done; cat marker; ls; sleep 2; cat /mnt/rw/swap/marker",
    );
    while (!existsSync(join(rw, "swap", "ready"))) await new Promise((r) => setTimeout(r, 200));
    renameSync(join(rw, "swap"), join(rw, "swap.old"));
    symlinkSync(outside, join(rw, "swap"));
    writeFileSync(join(rw, "go"), "");
    const swapped = await inside;
    assert.doesNotMatch(swapped.stdout, new RegExp(MARKER));
    assert.equal(swapped.stdout.trim(), "ready", "the guest's cwd is still the directory it entered");

    // The read-only share: reads work, every write is refused, the host files are unchanged.
    const rdonly = await sh(
      "cat /mnt/ro/keep; for c in 'echo x > /mnt/ro/keep' 'echo x >> /mnt/ro/new' 'mkdir /mnt/ro/d' 'rm /mnt/ro/keep' 'touch /mnt/ro/keep' 'chmod 600 /mnt/ro/keep' 'ln -s x /mnt/ro/l' 'mv /mnt/ro/keep /mnt/ro/k2' 'truncate -s 0 /mnt/ro/keep'; do if sh -c \"$c\" 2>/dev/null; then echo \"ALLOWED: $c\"; fi; done; echo x > /mnt/ro/y 2>&1 || true",
    );
    assert.doesNotMatch(rdonly.stdout, /ALLOWED/);
    assert.match(rdonly.stdout, /^read-only content/);
    assert.match(rdonly.stdout + rdonly.stderr, /Read-only file system/);
    assert.equal(readFileSync(join(ro, "keep"), "utf8"), "read-only content");
    assert.deepEqual(readdirSync(ro), ["keep"]);

    const um = await sh("umount /mnt/rw && umount /mnt/ro && echo unmounted");
    assert.equal(um.stdout.trim(), "unmounted", um.stderr);
  } finally {
    await vm.remove({ force: true });
  }
});
