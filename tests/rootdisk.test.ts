// Issue 3, virtio-blk end to end with the Debian guest: an ext4 root disk made by `corral image
// build` boots with root=/dev/vda; a file written in one boot is read back in the next; an
// overlay of that disk takes the VM's writes and leaves the base image byte-for-byte unchanged.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_CMDLINE } from "../src/api/guest-command.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-rootdisk-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = join(dir, "root.img");
const ROOT_ARGS = ["--append", `${DEFAULT_CMDLINE} root=/dev/vda`];

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha = (p: string): string => createHash("sha256").update(readFileSync(p)).digest("hex");

test("corral image build makes a root disk; what a boot writes, the next boot reads", () => {
  const b = corral(["image", "build", "--size", "128M", "--output", root]);
  assert.equal(b.status, 0, b.stderr);
  const again = corral(["image", "build", "--output", root]);
  assert.notEqual(again.status, 0, "an existing disk is never overwritten");
  assert.match(again.stderr, /already exists/);

  const w = corral([
    "run",
    "--disk",
    root,
    ...ROOT_ARGS,
    "--",
    "sh",
    "-c",
    "mount | grep ' / '; echo first-boot > /root/note",
  ]);
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout, /^\/dev\/vda on \/ type ext4/);
  const r = corral(["run", "--disk", root, ...ROOT_ARGS, "--", "cat", "/root/note"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "first-boot\n");
});

test("an overlay takes the writes and leaves its base byte-for-byte unchanged", () => {
  assert.ok(existsSync(root), "needs the disk of the previous test");
  const before = sha(root);
  const ov = join(dir, "vm1.overlay");
  const c = corral(["image", "overlay", root, "--output", ov]);
  assert.equal(c.status, 0, c.stderr);
  const w = corral([
    "run",
    "--disk",
    ov,
    ...ROOT_ARGS,
    "--",
    "sh",
    "-c",
    "cat /root/note; echo overlay > /root/note; cat /root/note",
  ]);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout, "first-boot\noverlay\n");
  assert.equal(sha(root), before, "the base image must not change");
  const r = corral(["run", "--disk", ov, ...ROOT_ARGS, "--", "cat", "/root/note"]);
  assert.equal(r.stdout, "overlay\n");
  const base = corral([
    "run",
    "--disk",
    `${root},ro`,
    ...ROOT_ARGS.slice(0, 1),
    `${DEFAULT_CMDLINE}`,
    "--",
    "sh",
    "-c",
    "mount -o ro -t ext4 /dev/vda /mnt && cat /mnt/root/note",
  ]);
  assert.equal(base.stdout, "first-boot\n", "the base still holds what it held");
});
