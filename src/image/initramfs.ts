/**
 * The default guest's root filesystem: an uncompressed cpio "newc" initramfs (the kernel unpacks
 * it faster than a compressed one) holding a static busybox, /init, the guest agent and a few device nodes; plus
 * the small per-boot archive carrying the command to run.
 */
import { CpioWriter } from "../formats/cpio.js";
import { busyboxApplets } from "./busybox.js";
import {
  GUEST_CMD_PATH,
  GUEST_FILES_DIR,
  GUEST_HOSTNAME,
  GUEST_MODULE_DIR,
  GUEST_MODULE_LIST,
  INIT_SCRIPT,
  MOTD,
  PROFILE,
} from "./init-script.js";
import { closureOf, resolveModules } from "./modules.js";
import { GUEST_AGENT_PATH, guestAgent } from "./agent.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface ExtraFile {
  data: Uint8Array;
  /** Permission bits; default 0644. */
  mode?: number;
}

export interface InitramfsOptions {
  /** A static riscv64 busybox (from Debian's busybox-static). */
  busybox: Uint8Array;
  /** The guest agent; default the one the build made (agent.ts). */
  agent?: Uint8Array;
  /** More files, by absolute guest path; they override the defaults at the same path. */
  extraFiles?: Record<string, Uint8Array | ExtraFile>;
  /** Kernel modules for /init to load (dependencies are added), e.g. ["virtio_blk"]. */
  modules?: readonly (string | GuestModule)[];
  /** The /lib/modules/<version> tree to take them from; required when `modules` is not empty. */
  modulesDir?: string;
}

/** A module for /init, loaded only when the board has a virtio device of ID `forDevice` (any board if none). */
export interface GuestModule {
  name: string;
  /** Virtio device ID (virtio 1.2 section 5). */
  forDevice?: number;
}

/**
 * The module list /init reads: "<file> <condition>" a line, dependencies first. The condition is
 * "-" (always) or the virtio device IDs, comma-separated, as sysfs shows them
 * (/sys/bus/virtio/devices/X/device, "0x%04x" in drivers/virtio/virtio.c), any of which makes the
 * module needed: a dependency is needed when any module that needs it is.
 */
function moduleList(resolved: ReturnType<typeof resolveModules>, wanted: readonly GuestModule[]): string {
  const when = new Map<string, Set<number> | "always">();
  for (const w of wanted)
    for (const n of closureOf(resolved, [w.name])) {
      const prev = when.get(n);
      if (w.forDevice === undefined || prev === "always") when.set(n, "always");
      else when.set(n, new Set([...(prev ?? []), w.forDevice]));
    }
  return resolved
    .map((m) => {
      const w = when.get(m.name) ?? "always";
      const cond = w === "always" ? "-" : [...w].map((id) => `0x${id.toString(16).padStart(4, "0")}`).join(",");
      return `${m.name}.ko ${cond}\n`;
    })
    .join("");
}

/** Device numbers from the kernel's Documentation/admin-guide/devices.txt. */
const DEV_CONSOLE = { major: 5, minor: 1 } as const;
const DEV_NULL = { major: 1, minor: 3 } as const;

export function buildInitramfs(opts: InitramfsOptions): Uint8Array {
  const w = new CpioWriter();
  for (const d of ["bin", "dev", "etc", "proc", "sys", "run", "mnt"]) w.dir(d);
  w.dir("tmp", 0o1777);
  w.dir("root", 0o700);
  // Merged /usr, as Debian does: scripts calling /usr/bin/env or /sbin/modprobe find busybox.
  w.symlink("sbin", "bin");
  w.dir("usr");
  w.symlink("usr/bin", "../bin");
  w.symlink("usr/sbin", "../bin");
  // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
  w.charDevice("dev/console", DEV_CONSOLE.major, DEV_CONSOLE.minor, 0o600);
  w.charDevice("dev/null", DEV_NULL.major, DEV_NULL.minor, 0o666);

  w.file("bin/busybox", opts.busybox, 0o755);
  for (const applet of busyboxApplets(opts.busybox)) {
    if (applet !== "busybox") w.symlink(`bin/${applet}`, "busybox");
  }

  w.file("init", text(INIT_SCRIPT), 0o755);
  w.file("etc/profile", text(PROFILE));
  w.file("etc/motd", text(MOTD));
  w.file("etc/hostname", text(`${GUEST_HOSTNAME}\n`));
  w.file("etc/passwd", text("root:x:0:0:root:/root:/bin/sh\n"));
  w.file("etc/group", text("root:x:0:\n"));
  w.file(GUEST_AGENT_PATH.slice(1), opts.agent ?? guestAgent(), 0o755);

  const modules = opts.modules ?? [];
  if (modules.length > 0) {
    if (!opts.modulesDir) throw new TypeError("buildInitramfs: modules need modulesDir");
    const wanted = modules.map((m) => (typeof m === "string" ? { name: m } : m));
    const resolved = resolveModules(
      opts.modulesDir,
      wanted.map((m) => m.name),
    );
    for (const m of resolved) w.file(`${GUEST_MODULE_DIR}/${m.name}.ko`, m.data);
    w.file(GUEST_MODULE_LIST, text(moduleList(resolved, wanted)));
  }

  for (const [path, f] of Object.entries(opts.extraFiles ?? {})) {
    if (f instanceof Uint8Array) w.file(path, f);
    else w.file(path, f.data, f.mode ?? 0o644);
  }
  return w.finish();
}

/**
 * The per-boot archive: /corral/cmd (run by /init with `sh`) and /corral/files/<name> for each
 * file. Append it to the initramfs (plain concatenation); names may contain subdirectories.
 */
export function commandArchive(cmd: string, files: Record<string, Uint8Array> = {}): Uint8Array {
  const w = new CpioWriter();
  w.file(GUEST_CMD_PATH, text(cmd.endsWith("\n") ? cmd : `${cmd}\n`), 0o755);
  w.dir(GUEST_FILES_DIR);
  for (const [name, data] of Object.entries(files)) w.file(`${GUEST_FILES_DIR}/${name}`, data, 0o755);
  return w.finish();
}
