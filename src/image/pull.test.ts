/**
 * The one test that pulls the default image for real, into a private CORRAL_HOME (about 115 MB
 * from the host's Debian mirror), then damages it in the ways a cache gets damaged. Other test
 * files share the user's cache through testing.ts instead.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDefaultImage, imageDir, pullDefaultImage, RISCV_IMAGE_MAGIC } from "./pull.js";
import { verifyImage } from "./cache.js";
import { isCorralError } from "../errors.js";

const CLI = new URL("../../../bin/corral.js", import.meta.url).pathname;
const DEAD_MIRROR = "http://127.0.0.1:9/debian"; // the discard port: nothing listens there

function sink(): { out: { write(s: string): boolean }; text: () => string } {
  let text = "";
  return { out: { write: (s: string) => ((text += s), true) }, text: () => text };
}

const hasCode =
  (code: string) =>
  (e: unknown): boolean =>
    isCorralError(e) && e.code === code;

/** Run the CLI as a user would. */
function cli(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("default image: pull, verify, corruption, truncation, dead mirror, interruption", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "corral-home-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const dir = imageDir(home);

  await t.test("pull fetches, unpacks and caches the packages with a manifest", async () => {
    const log = sink();
    const p = await pullDefaultImage({ home, out: log.out, env: {} });
    assert.deepEqual(Object.keys(p.manifest.packages).sort(), [
      "busybox-static",
      `linux-image-${p.manifest.kernelRelease}`,
      "opensbi",
    ]);
    const kernel = readFileSync(p.kernel);
    assert.equal(
      kernel.subarray(RISCV_IMAGE_MAGIC.offset, RISCV_IMAGE_MAGIC.offset + 8).toString("latin1"),
      RISCV_IMAGE_MAGIC.bytes,
    );
    // The busybox is a riscv64 executable (file(1) is the outside opinion).
    assert.match(
      execFileSync("file", ["-b", p.busybox], { encoding: "utf8" }),
      /ELF 64-bit LSB.*RISC-V.*statically linked/,
    );
    assert.ok(existsSync(join(p.modulesDir, "kernel/drivers/block/virtio_blk.ko.xz")));
    assert.ok(p.manifest.files["fw_dynamic.bin"]);
    assert.equal(verifyImage(dir, { full: true }).created, p.manifest.created);
    assert.match(log.text(), /downloading .*: 100% \(\d+\/\d+ MB\)\n/);
    assert.ok(!existsSync(join(home, "tmp")), "no scratch left");
  });

  await t.test("once cached, it is used offline (a dead mirror does not matter)", async () => {
    const p = await ensureDefaultImage({ home, env: { CORRAL_APT_MIRROR: DEAD_MIRROR }, offline: true });
    assert.equal(p.dir, dir);
    const r = cli(["image", "path", "--offline"], { CORRAL_HOME: home });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^kernel +${dir}/Image$`, "m"));
    assert.match(r.stdout, new RegExp(`^firmware +${dir}/fw_dynamic.bin$`, "m"));
  });

  await t.test("a corrupted byte is detected and the image fetched again", async () => {
    const path = join(dir, "Image");
    const original = readFileSync(path);
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([(original[4096] ?? 0) ^ 1]), 0, 1, 4096);
    closeSync(fd);
    await assert.rejects(ensureDefaultImage({ home, env: {}, offline: true }), hasCode("IMAGE_CORRUPT"));
    const log = sink();
    const p = await ensureDefaultImage({ home, env: {}, out: log.out });
    assert.match(log.text(), /Image does not match its SHA-256; fetching the image again/);
    assert.deepEqual(readFileSync(p.kernel), original);
    verifyImage(dir, { full: true });
  });

  await t.test("a truncated file is detected", async () => {
    truncateSync(join(dir, "fw_dynamic.bin"), 1000);
    await assert.rejects(
      ensureDefaultImage({ home, env: {}, offline: true }),
      (e) => hasCode("IMAGE_CORRUPT")(e) && /fw_dynamic\.bin has 1000 bytes.*truncated/.test((e as Error).message),
    );
  });

  await t.test("an unreachable mirror is a clear error and leaves nothing behind", async () => {
    const fresh = join(home, "fresh");
    mkdirSync(fresh);
    await assert.rejects(
      pullDefaultImage({ home: fresh, env: { CORRAL_APT_MIRROR: DEAD_MIRROR }, out: sink().out }),
      (e) => hasCode("MIRROR_UNREACHABLE")(e) && /127\.0\.0\.1:9.*set CORRAL_APT_MIRROR/.test((e as Error).message),
    );
    assert.deepEqual(readdirSync(fresh), []);
    // Through the CLI: one line, exit status 1.
    const r = cli(["image", "pull"], { CORRAL_HOME: fresh, CORRAL_APT_MIRROR: DEAD_MIRROR });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^corral: could not read the trixie\/riscv64 package index from http:\/\/127\.0\.0\.1:9\/debian .*CORRAL_APT_MIRROR[^\n]*\n$/,
    );
    // A forced pull that fails keeps the image that was there (here: the truncated one, untouched).
    await assert.rejects(
      pullDefaultImage({ home, force: true, env: { CORRAL_APT_MIRROR: DEAD_MIRROR }, out: sink().out }),
      hasCode("MIRROR_UNREACHABLE"),
    );
    assert.ok(existsSync(join(dir, "manifest.json")));
  });

  await t.test("an interrupted pull leaves no image and no scratch", async () => {
    const fresh = join(home, "interrupted");
    const child = spawn(process.execPath, [CLI, "image", "pull"], {
      env: { ...process.env, CORRAL_HOME: fresh },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (/downloading/.test(err)) child.kill("SIGINT"); // mid-download
    });
    const signal = await new Promise((r) => child.on("close", (_c, s) => r(s)));
    assert.equal(signal, "SIGINT", err);
    assert.ok(!existsSync(join(fresh, "images", "default")), "no image");
    assert.deepEqual(existsSync(join(fresh, "tmp")) ? readdirSync(join(fresh, "tmp")) : [], []);
  });

  await t.test("a full disk is reported before downloading", async () => {
    const small = join(home, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=100m", "tmpfs", small]);
    try {
      await assert.rejects(
        pullDefaultImage({ home: small, env: {}, out: sink().out }),
        (e) => hasCode("DISK_FULL")(e) && /MB needed, \d+ MB free.*CORRAL_HOME/.test((e as Error).message),
      );
      assert.deepEqual(readdirSync(small), []);
    } finally {
      execFileSync("umount", [small]);
    }
  });

  await t.test("without apt the error says what to do", () => {
    const bin = join(home, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    const r = cli(["image", "pull"], { CORRAL_HOME: join(home, "noapt"), PATH: bin });
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      "corral: 'apt-get' is not available: Corral fetches its default guest image with Debian's apt; install apt or pass --kernel/--initrd\n",
    );
  });
});
