/**
 * The one composition step (Firecracker's builder.rs, kvmtool's init lists): from a VmSpec to
 * a machine ready to run. `corral run`, the VM process behind `corral run -d` and the API, and
 * the bench all come through here, so they build the same devices for the same spec.
 *
 * Devices open in the spec's order and close in the reverse order, also when one fails to open
 * halfway or the machine cannot be built; once built, the machine owns them (its bus closes them
 * in reverse order of mapping, which is the same order).
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { blobBytes } from "../boot/blob.js";
import { DEVICE_KINDS } from "../devices/registry.js";
import type { DeviceKind } from "../devices/kinds/kind.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { CorralError, FieldError } from "../errors.js";
import { corralHome } from "../home.js";
import { imageDisk } from "../image/store.js";
import type { ProgressSink } from "../image/progress.js";
import { buildMachine, type NamedBlob } from "../machine/builder.js";
import type { Machine } from "../machine/machine.js";
import { defaultCmdline, withParams } from "./cmdline.js";
import { shareMemoryDefault, shareRam } from "./madvise.js";
import type { DeviceSpec, VmSpec } from "./spec.js";

/** Every way composing a VM can fail here (devices and the builder add their own). */
export type ComposeErrorCode = "UNKNOWN_DEVICE" | "NOT_A_FILE" | "FILE_NOT_FOUND" | "FILE_EMPTY";

export interface OpenedDevices {
  /** In the spec's order: the order of the board's virtio-mmio slots. */
  devices: VirtioDevice[];
  /** Kernel command-line parameters the devices asked for. */
  cmdline: string[];
  /** Close every device, last opened first; the first failure is thrown once all are closed. */
  close(): void;
}

/** Open `specs`' devices in order; on any failure, close those already open (last first) and throw. */
export async function openDevices(
  specs: readonly DeviceSpec[],
  opts: { home?: string; kinds?: Readonly<Record<string, DeviceKind>> } = {},
): Promise<OpenedDevices> {
  const kinds: Readonly<Record<string, DeviceKind>> = opts.kinds ?? DEVICE_KINDS;
  const home = opts.home ?? corralHome();
  const devices: VirtioDevice[] = [];
  const cmdline: string[] = [];
  const close = (): void => {
    let failure: unknown;
    for (const d of devices.splice(0).reverse()) {
      try {
        d.close();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  };
  const count = new Map<string, number>();
  try {
    for (const s of specs) {
      const kind = kinds[s.kind];
      if (!kind)
        throw new CorralError<ComposeErrorCode>(
          "UNKNOWN_DEVICE",
          `unknown device kind '${s.kind}': use one of ${Object.keys(kinds).join(", ")}`,
          { exitCode: 2 },
        );
      const index = count.get(s.kind) ?? 0;
      count.set(s.kind, index + 1);
      const opened = await kind.open(s, { index, home });
      devices.push(opened.device);
      cmdline.push(...(opened.cmdline ?? []));
    }
  } catch (e) {
    try {
      close();
    } catch {
      // the open failure is the one to report
    }
    throw e;
  }
  return { devices, cmdline, close };
}

export interface ComposeOptions {
  /** Where guest console bytes go. */
  console: (bytes: Uint8Array) => void;
  home?: string;
  /** Progress of a first download of the default image (default stderr). */
  imageLog?: ProgressSink;
  /** A cpio archive appended to the initrd (the command of `corral run -- cmd`). */
  initrdAppend?: (initrd: Uint8Array) => Uint8Array;
  /** Firmware already in memory, instead of the spec's boot.firmware path. */
  firmware?: NamedBlob;
  /**
   * Devices the caller opened itself (a test's own backend), on the board after the spec's;
   * like those, the machine closes them.
   */
  attach?: readonly VirtioDevice[];
  /** The command line when the spec gives none (default: the default guest's for its console, api/guest-command.ts). */
  defaultCmdline?: (spec: VmSpec) => string;
  /** Build the machine to restore a snapshot into (src/snapshot/restore.ts): no boot images are read. */
  restore?: { ramFile: number; ramOverlay?: number | undefined; sbi: boolean };
  /**
   * Whether the VM may be forked (default true): its RAM then lives in a memory file that a fork
   * hands to its clones (GuestRam.backWithFile), which takes the FFI. A VM that nothing can fork
   * (a foreground `corral run`: no name, no control socket) keeps plain anonymous memory, and
   * starts without loading the FFI.
   */
  forkable?: boolean;
}

export interface Composed {
  machine: Machine;
  devices: VirtioDevice[];
  /** The kernel was the default guest's (no boot.kernel and no boot.firmware). */
  defaultGuest: boolean;
}

/** Load the boot images, open the devices and build the machine. */
export async function composeVm(spec: VmSpec, o: ComposeOptions): Promise<Composed> {
  const boot: BootImages = o.restore
    ? {
        kernel: undefined,
        initrd: undefined,
        firmware: undefined,
        defaultGuest: spec.boot.kernel === undefined,
        files: [],
      }
    : await bootImages(spec, o);
  if (o.firmware) boot.firmware = o.firmware;
  try {
    return await composeWith(spec, o, boot);
  } finally {
    // The machine holds RAM, not the files: the images are in it (or it was never built).
    for (const fd of boot.files) closeSync(fd);
  }
}

async function composeWith(spec: VmSpec, o: ComposeOptions, boot: BootImages): Promise<Composed> {
  if (boot.initrd && o.initrdAppend) {
    const { name, data } = boot.initrd;
    boot.initrd = { name, data: o.initrdAppend(blobBytes(data, name)) };
  }
  const home = o.home ?? corralHome();
  // An image's root disk is the first disk, /dev/vda, and the root file system.
  const rootDisk: DeviceSpec[] =
    spec.image !== undefined ? [{ kind: "blk", path: imageDisk(home, spec.image), format: "raw" }] : [];
  const specs = [...rootDisk, ...spec.devices];
  // A bad CORRAL_SHARE_MEMORY is refused before any device opens.
  const share = spec.shareMemory ?? shareMemoryDefault();
  const opened = await openDevices(specs, { home });
  // Each device on its transport (its own, else the VM's); the device is the same either way.
  const onPci = (i: number): boolean => (specs[i]?.transport ?? spec.transport ?? "mmio") === "pci";
  if (spec.image !== undefined) opened.cmdline.push("root=/dev/vda");
  try {
    const machine = buildMachine({
      memory: spec.memory,
      cpus: spec.harts,
      kernel: boot.kernel,
      initrd: boot.initrd,
      firmware: boot.firmware,
      cmdline: boot.kernel
        ? withParams(
            spec.boot.cmdline ?? (o.defaultCmdline ?? ((s) => defaultCmdline(s.console)))(spec),
            opened.cmdline,
          )
        : spec.boot.cmdline,
      console: o.console,
      consoleDevice: spec.console,
      irqchip: spec.irqchip,
      virtio: [...opened.devices.filter((_, i) => !onPci(i)), ...(o.attach ?? [])],
      pci: opened.devices.filter((_, i) => onPci(i)),
      restore: o.restore,
      // KSM merges anonymous pages only: RAM offered to it stays anonymous.
      ramFile: !share && o.forkable !== false,
    });
    // Refused (no KSM in the host's kernel) before the guest runs: the devices close below.
    if (share) shareRam(machine.ram);
    return { machine, devices: opened.devices, defaultGuest: boot.defaultGuest };
  } catch (e) {
    opened.close();
    throw e;
  }
}

interface BootImages {
  kernel: NamedBlob | undefined;
  initrd: NamedBlob | undefined;
  firmware: NamedBlob | undefined;
  defaultGuest: boolean;
  /** The image files opened (read into RAM by the builder), closed once the machine is built or refused. */
  files: number[];
}

/** The spec's kernel, initrd and firmware; without a kernel or firmware, the default guest's (fetched on first use). */
async function bootImages(spec: VmSpec, o: ComposeOptions): Promise<BootImages> {
  const b = spec.boot;
  const files: number[] = [];
  try {
    const kernel = b.kernel !== undefined ? openBlob(b.kernel, "kernel", "boot.kernel", files) : undefined;
    const initrd = b.initrd !== undefined ? openBlob(b.initrd, "initrd", "boot.initrd", files) : undefined;
    const firmware = b.firmware !== undefined ? openBlob(b.firmware, "firmware", "boot.firmware", files) : undefined;
    if (kernel || firmware) return { kernel, initrd, firmware, defaultGuest: false, files };
    const { ensureDefaultImage } = await import("../image/pull.js");
    const img = await ensureDefaultImage({
      ...(o.home !== undefined ? { home: o.home } : {}),
      ...(o.imageLog ? { out: o.imageLog } : {}),
    });
    return {
      kernel: openBlob(img.kernel, "kernel", "boot.kernel", files),
      initrd: initrd ?? openBlob(img.initramfs, "initrd", "boot.initrd", files),
      firmware: undefined,
      defaultGuest: true,
      files,
    };
  } catch (e) {
    for (const fd of files) closeSync(fd);
    throw e;
  }
}

/**
 * Open a boot image (its fd is pushed on `files` for the caller to close): the builder reads it
 * straight into guest RAM, without a Node buffer between (src/boot/blob.ts).
 */
function openBlob(path: string, what: string, field: string, files: number[]): NamedBlob {
  const unreadable = (): FieldError<ComposeErrorCode> =>
    new FieldError<ComposeErrorCode>(
      "FILE_NOT_FOUND",
      field,
      (n) => `${what} ${path} does not exist or cannot be read: check the path given to ${n}`,
      { exitCode: 2 },
    );
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once (instead of waiting for a writer) and is refused below;
    // a regular file reads as without it. One fstat of what was opened decides, with no race.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    throw unreadable();
  }
  files.push(fd);
  const st = fstatSync(fd);
  if (!st.isFile())
    throw new FieldError<ComposeErrorCode>(
      "NOT_A_FILE",
      field,
      (n) => `${what} ${path} is not a regular file: pass a file to ${n}`,
      { exitCode: 2 },
    );
  const size = st.size;
  if (size === 0)
    throw new FieldError<ComposeErrorCode>(
      "FILE_EMPTY",
      field,
      (n) => `${what} ${path} is empty: pass a real ${what} to ${n}`,
      { exitCode: 2 },
    );
  return { name: path, data: { fd, size } };
}
