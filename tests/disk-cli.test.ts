// `--disk` with a bad disk, through the real `corral` executable (issue 14, items 4 and 5): one
// line on stderr naming the disk and what to do, a non-zero exit, no stack trace, and nothing left
// under $CORRAL_HOME/vms, in the foreground and detached. A scratch CORRAL_HOME: the checks come
// before the default image is even looked for.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { OverlayDisk } from "../src/disk/overlay.js";
import { encodeHeader, planLayout } from "../src/disk/overlay-format.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-diskcli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const home = join(dir, "home");

function corral(args: string[], opts: { uid?: number; gid?: number } = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CORRAL_HOME: home },
    ...opts,
  });
  return { status: r.status, stderr: r.stderr };
}

function expectDiskError(disk: string, pattern: RegExp, opts: { uid?: number; gid?: number } = {}): void {
  for (const mode of [[], ["-d"]]) {
    const args = ["run", ...mode, "--disk", disk];
    const r = corral(args, opts);
    assert.notEqual(r.status, null, "it must not hang");
    assert.notEqual(r.status, 0, `exit status of corral ${args.join(" ")}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at |internal error/, "no stack trace");
    assert.match(lines[0]!, /^corral: /);
    assert.match(lines[0]!, pattern);
    const vms = join(home, "vms");
    assert.deepEqual(existsSync(vms) ? readdirSync(vms) : [], [], `nothing left in ${vms} by ${args.join(" ")}`);
  }
}

test("a directory", () => expectDiskError(dir, /disk image .* is a directory; give the path of an image file/));
test("a missing file", () => expectDiskError(join(dir, "nope.img"), /nope\.img does not exist; check the path/));
test("a character device", () =>
  expectDiskError("/dev/null", /\/dev\/null is a character device; give the path of an image file/));

test("a FIFO (never waits for a writer)", () => {
  const fifo = join(dir, "fifo");
  const mk = spawnSync("mkfifo", [fifo]);
  assert.equal(mk.status, 0, "mkfifo");
  expectDiskError(fifo, /fifo is a FIFO; give the path of an image file/);
});

test("an unknown format", () => {
  const img = join(dir, "plain.img");
  writeFileSync(img, Buffer.alloc(65536));
  expectDiskError(`${img},format=qcow2`, /format must be raw or overlay, not 'qcow2'/);
});

test("a file this user may not open", (t) => {
  const img = join(dir, "locked.img");
  writeFileSync(img, Buffer.alloc(65536));
  chmodSync(img, 0o000);
  if (process.getuid?.() !== 0)
    return expectDiskError(img, /locked\.img cannot be opened for reading \(permission denied\)/);
  // root opens anything: run the CLI as nobody, if nobody can run it from here.
  mkdirSync(home, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(home, 0o777);
  const probe = spawnSync(process.execPath, ["-e", `require("fs").accessSync(${JSON.stringify(CORRAL)}, 4)`], {
    uid: 65534,
    gid: 65534,
  });
  if (probe.status !== 0)
    return t.skip("root ignores permissions, and the user nobody cannot read this checkout to run corral");
  expectDiskError(img, /locked\.img cannot be opened for reading \(permission denied\)/, { uid: 65534, gid: 65534 });
});

test("a raw image whose bytes start with the overlay magic and that Corral has no record of", () => {
  const secret = join(dir, "secret");
  writeFileSync(secret, "host secret\n");
  const img = Buffer.alloc(1 << 20);
  const v = 64 * 1024;
  Buffer.from(
    encodeHeader({
      virtualSize: v,
      clusterSize: 4096,
      ...planLayout(v, 4096),
      baseSize: 12,
      baseMtimeNs: 0n,
      basePath: secret,
    }),
  ).copy(img);
  const path = join(dir, "guest.img");
  writeFileSync(path, img);
  expectDiskError(
    path,
    /guest\.img starts with the overlay magic but Corral has no record of making it.*format=overlay.*format=raw/,
  );
});

test("a damaged overlay", () => {
  const base = join(dir, "base.img");
  writeFileSync(base, Buffer.alloc(1 << 20, 7));
  const ovl = join(dir, "vm1.img");
  OverlayDisk.create(ovl, base);
  writeFileSync(ovl, readFileSync(ovl).subarray(0, 5000));
  expectDiskError(
    ovl,
    /overlay .*vm1\.img is not a valid Corral overlay \(file is 5000 bytes but its header and cluster table need \d+: truncated\)/,
  );
});
