/**
 * The default guest image: Debian trixie's riscv64 kernel, its modules, a static busybox
 * initramfs and OpenSBI's fw_dynamic.bin, fetched with a private apt (apt.ts) and cached under
 * $CORRAL_HOME/images/default (cache.ts). Once cached it is used offline.
 */
import { childProcess, nodeCrypto } from "../builtins.js";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { isCorralError } from "../errors.js";
import { PrivateApt, diskFull, requireApt, type AptPackageInfo } from "./apt.js";
import { MANIFEST, corralHome, readManifest, verifyImage, writeAtomic, writeManifest, type Manifest } from "./cache.js";
import { guestAgent } from "./agent.js";
import { INIT_SCRIPT, MOTD, PROFILE } from "./init-script.js";
import { buildInitramfs, type GuestModule } from "./initramfs.js";
import { DeviceId } from "../devices/virtio/spec.js";
import { findAptMirror } from "./mirror.js";
import { createProgress, type ProgressSink } from "./progress.js";
import { acquireLock, makeScratch, sweepStale, type Scratch } from "./staging.js";
import { writeSystemMap } from "./system-map.js";
import { ImageError } from "./errors.js";

export const KERNEL_METAPACKAGE = "linux-image-riscv64";
export const BUSYBOX_PACKAGE = "busybox-static";
export const OPENSBI_PACKAGE = "opensbi";
const OPENSBI_DYNAMIC = "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";

/** Files of the default image, relative to its directory. */
export const IMAGE_FILES = {
  kernel: "Image",
  initramfs: "initramfs.cpio",
  firmware: "fw_dynamic.bin",
  busybox: "busybox",
  kernelConfig: "config",
  /** The kernel's symbol table (Debian's /boot/System.map-*), for `corral run --profile`. */
  systemMap: "System.map",
  modules: "modules",
} as const;

export interface ImagePaths {
  dir: string;
  /** Flat RISC-V kernel Image (Debian's /boot/vmlinux-*, an Image with an EFI stub header). */
  kernel: string;
  /** Uncompressed cpio newc initramfs with busybox and Corral's /init, no modules. */
  initramfs: string;
  /** OpenSBI generic fw_dynamic.bin. */
  firmware: string;
  /** The static riscv64 busybox, to build other initramfs variants (buildInitramfs). */
  busybox: string;
  /** The kernel's build configuration. */
  kernelConfig: string;
  /** /lib/modules/<release> tree (.ko.xz), for buildInitramfs({ modules, modulesDir }). */
  modulesDir: string;
  /**
   * The kernel's System.map, when the image has one (images fetched before it was kept have
   * none: image/system-map.ts adds it on demand).
   */
  systemMap: string | undefined;
  manifest: Manifest;
}

export interface PullOptions {
  /** Cache root; default corralHome(env). */
  home?: string;
  env?: NodeJS.ProcessEnv;
  /** Fetch even if a valid image is cached. */
  force?: boolean;
  /** Where progress and notices go; default process.stderr. */
  out?: ProgressSink;
}

export function imageDir(home: string, name = "default"): string {
  return join(home, "images", name);
}

function pathsOf(dir: string, manifest: Manifest): ImagePaths {
  return {
    dir,
    kernel: join(dir, IMAGE_FILES.kernel),
    initramfs: join(dir, IMAGE_FILES.initramfs),
    firmware: join(dir, IMAGE_FILES.firmware),
    busybox: join(dir, IMAGE_FILES.busybox),
    kernelConfig: join(dir, IMAGE_FILES.kernelConfig),
    modulesDir: join(dir, IMAGE_FILES.modules, manifest.kernelRelease),
    systemMap: manifest.files[IMAGE_FILES.systemMap] !== undefined ? join(dir, IMAGE_FILES.systemMap) : undefined,
    manifest,
  };
}

/**
 * Modules the default initramfs carries (Debian builds these as modules). /init loads each one
 * only when the board has a virtio device it serves (`forDevice`, a virtio device ID): every
 * module Debian signs is verified at insmod (kernel/module/signing.c: a SHA-256 of the whole file
 * and an ECDSA check), which costs the emulated guest about 160 instructions a byte; ext4 and
 * jbd2 alone (8.3 MB) were half of a diskless boot's 2.5 G instructions (docs/benchmarks.md,
 * "Boot: the modules the initramfs loads"). The files stay in the initramfs for `insmod` by hand.
 */
export const DEFAULT_MODULES: readonly GuestModule[] = [
  { name: "virtio_mmio" },
  { name: "virtio_blk", forDevice: DeviceId.BLOCK },
  { name: "virtio_net", forDevice: DeviceId.NET },
  { name: "virtio_balloon", forDevice: DeviceId.BALLOON },
  { name: "virtio_rng", forDevice: DeviceId.ENTROPY },
  // AF_VSOCK over virtio (--vsock): pulls in vsock and vmw_vsock_virtio_transport_common.
  { name: "vmw_vsock_virtio_transport", forDevice: DeviceId.SOCKET },
  // A root disk (--image) or an ext4 --disk: only a block device can hold one here.
  { name: "crc32c_generic", forDevice: DeviceId.BLOCK },
  { name: "ext4", forDevice: DeviceId.BLOCK },
];
/**
 * Identifies the code-defined inputs of initramfs.cpio (/init, the guest agent's bytes, the
 * modules), so that a cached image made by another Corral gets its initramfs rebuilt.
 */
export function initramfsRecipe(): string {
  return nodeCrypto()
    .createHash("sha256")
    .update(`3\0${INIT_SCRIPT}\0${PROFILE}\0${MOTD}\0${JSON.stringify(DEFAULT_MODULES)}\0`)
    .update(guestAgent())
    .digest("hex")
    .slice(0, 16);
}

/**
 * Fetch, unpack and cache the default image (even when one is cached, if `force`).
 * Everything is built in $CORRAL_HOME/tmp and renamed into place at the end.
 */
export async function pullDefaultImage(opts: PullOptions = {}): Promise<ImagePaths> {
  const env = opts.env ?? process.env;
  const home = opts.home ?? corralHome(env);
  const out = opts.out ?? process.stderr;
  const dir = imageDir(home);
  requireApt();
  const tmpRoot = join(home, "tmp");
  try {
    mkdirSync(join(home, "images"), { recursive: true });
    sweepStale(tmpRoot, "pull");
  } catch (e) {
    throw mapFsError(e, home);
  }
  const scratch = makeScratch(tmpRoot, "pull");
  // Cleanups run latest first: release the lock, then drop directories we leave empty.
  scratch.onCleanup(() => {
    removeIfEmpty(tmpRoot);
    removeIfEmpty(join(home, "images"));
  });
  try {
    scratch.onCleanup(await acquireLock(join(home, "images", ".default.lock"), "the default image"));
    if (!opts.force) {
      try {
        return pathsOf(dir, verifyImage(dir));
      } catch (e) {
        if (!isCorralError(e)) throw e;
      }
    }
    const stage = await fetchAndStage(scratch, env, out);
    swapIntoPlace(stage, dir, join(scratch.dir, "old"));
    return pathsOf(dir, readManifest(dir));
  } catch (e) {
    throw mapFsError(e, home);
  } finally {
    scratch.dispose();
  }
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (another pull is running) or already gone
  }
}

async function fetchAndStage(scratch: Scratch, env: NodeJS.ProcessEnv, out: ProgressSink): Promise<string> {
  const work = scratch.dir;
  const apt = new PrivateApt(join(work, "apt"), findAptMirror(env));
  apt.update();
  const kernelPkg = apt.depends(KERNEL_METAPACKAGE).find((p) => p.startsWith("linux-image-"));
  if (!kernelPkg)
    throw new ImageError("PACKAGE_NOT_FOUND", `${KERNEL_METAPACKAGE} names no kernel package in ${apt.suite}`);
  const pkgs = [kernelPkg, BUSYBOX_PACKAGE, OPENSBI_PACKAGE].map((p) => apt.show(p));
  const total = pkgs.reduce((n, p) => n + p.size, 0);
  checkSpace(work, pkgs);

  const debs = join(work, "debs");
  mkdirSync(debs);
  const bar = createProgress(`corral: downloading ${kernelPkg}, busybox, opensbi`, total, out);
  await apt.download(
    pkgs.map((p) => p.package),
    debs,
    (f) => bar.update(f),
    (child) => scratch.track(child),
  );
  bar.done();

  // Unpack (dpkg-deb -x: the data archive only, no maintainer scripts run).
  const root = join(work, "root");
  mkdirSync(root);
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) {
    try {
      childProcess().execFileSync("dpkg-deb", ["-x", join(debs, deb), root], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const msg = String((e as { stderr?: unknown }).stderr ?? e);
      if (/No space left/i.test(msg)) throw diskFull(work, msg.trim());
      throw new ImageError("IMAGE_UNPACK_FAILED", `dpkg-deb could not unpack ${deb}: ${msg.trim()}`);
    }
    rmSync(join(debs, deb)); // free the space before the next one
  }

  const stage = join(work, "image");
  mkdirSync(stage);
  const vmlinux = readdirSync(join(root, "boot")).find((f) => f.startsWith("vmlinux-"));
  if (!vmlinux) throw new ImageError("IMAGE_UNPACK_FAILED", `${kernelPkg} has no /boot/vmlinux-*`);
  const kernelRelease = vmlinux.slice("vmlinux-".length);
  checkRiscvImage(join(root, "boot", vmlinux), kernelPkg);
  renameSync(join(root, "boot", vmlinux), join(stage, IMAGE_FILES.kernel));
  renameSync(join(root, "boot", `config-${kernelRelease}`), join(stage, IMAGE_FILES.kernelConfig));
  renameSync(join(root, OPENSBI_DYNAMIC), join(stage, IMAGE_FILES.firmware));
  renameSync(join(root, "usr/bin/busybox"), join(stage, IMAGE_FILES.busybox));
  mkdirSync(join(stage, IMAGE_FILES.modules));
  renameSync(join(root, "usr/lib/modules", kernelRelease), join(stage, IMAGE_FILES.modules, kernelRelease));
  rmSync(root, { recursive: true, force: true });
  // Debian's /boot/System.map-* is a placeholder: made from the kernel's own tables instead.
  writeSystemMap(join(stage, IMAGE_FILES.kernel), stage);

  writeFileSync(
    join(stage, IMAGE_FILES.initramfs),
    buildInitramfs({
      busybox: new Uint8Array(readFileSync(join(stage, IMAGE_FILES.busybox))),
      modules: DEFAULT_MODULES,
      modulesDir: join(stage, IMAGE_FILES.modules, kernelRelease),
    }),
  );
  const packages: Manifest["packages"] = {};
  for (const p of pkgs) packages[p.package] = { version: p.version, architecture: p.architecture };
  writeManifest(stage, { packages, kernelRelease, initramfsRecipe: initramfsRecipe() });
  return stage;
}

/** Debian's riscv64 "vmlinux" is a flat Image: "RISCV\0\0\0" at 0x30 (kernel's riscv/boot.rst). */
export const RISCV_IMAGE_MAGIC = { offset: 0x30, bytes: "RISCV\0\0\0" } as const;

function checkRiscvImage(path: string, pkg: string): void {
  const head = readFileSync(path).subarray(RISCV_IMAGE_MAGIC.offset, RISCV_IMAGE_MAGIC.offset + 8);
  if (head.toString("latin1") !== RISCV_IMAGE_MAGIC.bytes) {
    throw new ImageError(
      "IMAGE_UNPACK_FAILED",
      `the kernel in ${pkg} is not a RISC-V Image (no "RISCV" magic at 0x30)`,
    );
  }
}

/** DISK_FULL up front rather than halfway: the .debs plus their unpacked contents must fit. */
function checkSpace(work: string, pkgs: readonly AptPackageInfo[]): void {
  const need = pkgs.reduce((n, p) => n + p.size + p.installedSize, 0);
  const s = statfsSync(work);
  const free = Number(s.bavail) * Number(s.bsize);
  if (free < need) throw diskFull(work, `${Math.ceil(need / 1e6)} MB needed, ${Math.floor(free / 1e6)} MB free`);
}

/** Replace `dir` with `stage` by renames; the old image is moved to `old` (inside scratch). */
function swapIntoPlace(stage: string, dir: string, old: string): void {
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(stage, dir);
}

function mapFsError(e: unknown, where: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return diskFull(where, (e as Error).message);
  return e;
}

export interface EnsureOptions extends Omit<PullOptions, "force"> {
  /** Never download: throw IMAGE_MISSING / IMAGE_CORRUPT instead. */
  offline?: boolean;
}

/**
 * The cached default image, verified (IMAGE_CORRUPT files are fetched again, never booted);
 * pulled first if absent. An initramfs built by an older /init is rebuilt from the cached busybox.
 */
export async function ensureDefaultImage(opts: EnsureOptions = {}): Promise<ImagePaths> {
  const env = opts.env ?? process.env;
  const home = opts.home ?? corralHome(env);
  const out = opts.out ?? process.stderr;
  const dir = imageDir(home);
  let manifest: Manifest;
  try {
    manifest = verifyImage(dir);
  } catch (e) {
    if (!isCorralError(e) || opts.offline) throw e;
    if (e.code === "IMAGE_MISSING") out.write("corral: no default guest image yet; fetching it once (about 115 MB)\n");
    else if (e.code === "IMAGE_CORRUPT") out.write(`corral: ${e.message}; fetching the image again\n`);
    else throw e;
    return pullDefaultImage({ ...opts, home, env, out, force: true });
  }
  if (manifest.initramfsRecipe !== initramfsRecipe()) manifest = rebuildInitramfs(dir, manifest);
  return pathsOf(dir, manifest);
}

function rebuildInitramfs(dir: string, manifest: Manifest): Manifest {
  const busybox = new Uint8Array(readFileSync(join(dir, IMAGE_FILES.busybox)));
  const cpio = buildInitramfs({
    busybox,
    modules: DEFAULT_MODULES,
    modulesDir: join(dir, IMAGE_FILES.modules, manifest.kernelRelease),
  });
  const files = {
    ...manifest.files,
    [IMAGE_FILES.initramfs]: {
      size: cpio.length,
      sha256: nodeCrypto().createHash("sha256").update(cpio).digest("hex"),
    },
  };
  const next: Manifest = { ...manifest, initramfsRecipe: initramfsRecipe(), files };
  // If we die between these two renames the manifest disagrees with the file: the next check
  // reports IMAGE_CORRUPT and the image is fetched again, which is safe.
  writeAtomic(join(dir, IMAGE_FILES.initramfs), cpio);
  writeAtomic(join(dir, MANIFEST), JSON.stringify(next, null, 1) + "\n");
  return next;
}
