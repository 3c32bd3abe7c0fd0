import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildInitramfs, commandArchive } from "./initramfs.js";
import { CMD_BEGIN, CMD_EXIT_RE, INIT_STARTED } from "./init-script.js";
import { sharedImage } from "./testing.js";
import { DEFAULT_MODULES, type ImagePaths } from "./pull.js";

function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "corral-initramfs-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function extract(archive: Uint8Array, into: string): void {
  mkdirSync(into, { recursive: true });
  execFileSync("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], { cwd: into, input: archive });
}

test("the initramfs extracts with real cpio: /init, busybox, applets, device nodes", () =>
  withTmp(async (dir) => {
    const img = await sharedImage();
    const busybox = new Uint8Array(readFileSync(img.busybox));
    const root = join(dir, "root");
    extract(
      buildInitramfs({ busybox, extraFiles: { "/etc/extra": { data: new Uint8Array([1]), mode: 0o600 } } }),
      root,
    );

    const init = lstatSync(join(root, "init"));
    assert.ok(init.isFile());
    assert.equal(init.mode & 0o777, 0o755);
    const script = readFileSync(join(root, "init"), "utf8");
    assert.ok(script.startsWith("#!/bin/sh\n"));
    execFileSync("sh", ["-n", join(root, "init")]); // dash parses it
    execFileSync("busybox", ["sh", "-n", join(root, "init")]); // and so does busybox's ash

    assert.deepEqual(new Uint8Array(readFileSync(join(root, "bin/busybox"))), busybox);
    assert.equal(lstatSync(join(root, "bin/busybox")).mode & 0o777, 0o755);
    for (const applet of ["sh", "mount", "cttyhack", "poweroff", "insmod"])
      assert.equal(readlinkSync(join(root, "bin", applet)), "busybox");
    assert.equal(readlinkSync(join(root, "sbin")), "bin");
    assert.equal(readlinkSync(join(root, "usr/bin")), "../bin");

    const con = lstatSync(join(root, "dev/console"));
    assert.ok(con.isCharacterDevice());
    assert.deepEqual([con.rdev >> 8, con.rdev & 0xff], [5, 1]);
    const nul = lstatSync(join(root, "dev/null"));
    assert.deepEqual([nul.rdev >> 8, nul.rdev & 0xff], [1, 3]);
    for (const d of ["proc", "sys", "dev", "tmp", "root"]) assert.ok(lstatSync(join(root, d)).isDirectory(), d);
    assert.equal(lstatSync(join(root, "tmp")).mode & 0o7777, 0o1777);
    assert.equal(lstatSync(join(root, "etc/extra")).mode & 0o777, 0o600);
    // The cached image's initramfs is this same build.
    assert.deepEqual(
      new Uint8Array(readFileSync(img.initramfs)),
      buildInitramfs({ busybox, modules: DEFAULT_MODULES, modulesDir: img.modulesDir }),
    );
  }));

test("the command archive holds /corral/cmd and /corral/files", () =>
  withTmp(async (dir) => {
    extract(commandArchive("echo hi", { "a.txt": new TextEncoder().encode("A"), "sub/b": new Uint8Array([2]) }), dir);
    assert.equal(readFileSync(join(dir, "corral/cmd"), "utf8"), "echo hi\n");
    assert.equal(readFileSync(join(dir, "corral/files/a.txt"), "utf8"), "A");
    assert.deepEqual([...readFileSync(join(dir, "corral/files/sub/b"))], [2]);
  }));

/** Boot the image under QEMU (the reference RISC-V machine) and return the console output. */
function bootQemu(img: ImagePaths, initrd: string, extraArgs: string[] = []): string {
  return execFileSync(
    "qemu-system-riscv64",
    [
      "-M",
      "virt",
      "-smp",
      "1",
      "-m",
      "512",
      "-nographic",
      "-no-reboot",
      "-bios",
      img.firmware,
      "-kernel",
      img.kernel,
      "-initrd",
      initrd,
      "-append",
      "console=ttyS0 panic=-1 quiet",
      ...extraArgs,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 },
  );
}

test("booted by QEMU, /init runs the appended command and frames its output", () =>
  withTmp(async (dir) => {
    const img = await sharedImage();
    const initrd = join(dir, "initrd.cpio");
    const cmd = commandArchive(
      'echo "host=$(hostname)"; cat /corral/files/greeting; grep -c devtmpfs /proc/mounts; exit 7',
      {
        greeting: new TextEncoder().encode("hello from the host\n"),
      },
    );
    writeFileSync(initrd, Buffer.concat([readFileSync(img.initramfs), cmd]));
    const out = bootQemu(img, initrd).replace(/\r/g, "");
    const started = out.indexOf(`${INIT_STARTED}\n`);
    const begin = out.indexOf(`${CMD_BEGIN}\n`);
    assert.ok(started >= 0 && begin > started, out);
    const body = out.slice(begin + CMD_BEGIN.length + 1);
    assert.equal(CMD_EXIT_RE.exec(body)?.[1], "7", out);
    assert.equal(body.slice(0, body.search(CMD_EXIT_RE)), "host=corral\nhello from the host\n1\n");
  }));

test("modules listed at build time are loaded by /init in dependency order", () =>
  withTmp(async (dir) => {
    const img = await sharedImage();
    const initrd = join(dir, "initrd.cpio");
    const base = buildInitramfs({
      busybox: new Uint8Array(readFileSync(img.busybox)),
      modules: ["virtio_mmio", "virtio_blk"],
      modulesDir: img.modulesDir,
    });
    writeFileSync(join(dir, "disk.img"), new Uint8Array(1 << 20));
    writeFileSync(initrd, Buffer.concat([base, commandArchive("cut -d' ' -f1 /proc/modules | sort; ls /sys/block")]));
    const out = bootQemu(img, initrd, [
      "-drive",
      `file=${join(dir, "disk.img")},format=raw,if=none,id=d0`,
      "-device",
      "virtio-blk-device,drive=d0",
    ]);
    const body = out.replace(/\r/g, "").split(`${CMD_BEGIN}\n`)[1] ?? "";
    assert.equal(body.slice(0, body.search(CMD_EXIT_RE)), "virtio_blk\nvirtio_mmio\nvda\n", out);
    assert.equal(CMD_EXIT_RE.exec(body)?.[1], "0");
  }));

// Issue 17 (boot): every module Debian signs is hashed whole and its signature checked at insmod,
// which was three quarters of a diskless boot's guest instructions (docs/benchmarks.md, "Boot: the
// modules the initramfs loads"). /init loads a driver, and what only it needs, for a device the
// board has: the ext4 stack (8.4 MB of the 10.7) only beside a block device.
test("the default modules: /init loads each driver and its stack only when the board has its device", () =>
  withTmp(async (dir) => {
    const img = await sharedImage();
    const base = buildInitramfs({
      busybox: new Uint8Array(readFileSync(img.busybox)),
      modules: DEFAULT_MODULES,
      modulesDir: img.modulesDir,
    });
    const root = join(dir, "root");
    extract(base, root);
    const list = readFileSync(join(root, "etc/corral/modules"), "utf8");
    assert.match(list, /^virtio_mmio\.ko -$/m);
    for (const m of ["virtio_blk", "ext4", "jbd2", "mbcache", "crc16", "crc32c_generic"])
      assert.match(list, new RegExp(`^${m}\\.ko 0x0002$`, "m"));
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(
      initrd,
      Buffer.concat([base, commandArchive("echo $(cut -d' ' -f1 /proc/modules | sort); ls /sys/block")]),
    );
    const loaded = (extra: string[]): string => {
      const out = bootQemu(img, initrd, extra);
      const body = out.replace(/\r/g, "").split(`${CMD_BEGIN}\n`)[1] ?? "";
      assert.equal(CMD_EXIT_RE.exec(body)?.[1], "0", out);
      assert.doesNotMatch(out, /could not load module/);
      return body.slice(0, body.search(CMD_EXIT_RE));
    };
    // No disk: the entropy device's driver, not the disk's nor the ext4 stack.
    assert.equal(loaded(["-device", "virtio-rng-device"]), "virtio_mmio virtio_rng\n");
    writeFileSync(join(dir, "disk.img"), new Uint8Array(1 << 20));
    assert.equal(
      loaded([
        "-device",
        "virtio-rng-device",
        "-drive",
        `file=${join(dir, "disk.img")},format=raw,if=none,id=d0`,
        "-device",
        "virtio-blk-device,drive=d0",
      ]),
      "crc16 crc32c_generic ext4 jbd2 mbcache virtio_blk virtio_mmio virtio_rng\nvda\n",
    );
  }));
