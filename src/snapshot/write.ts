/**
 * Taking a snapshot of a running machine (`corral snapshot NAME DIR`, run inside the VM process):
 * pause the harts at a slice boundary, write RAM, the machine's, harts' and devices' state and a
 * consistent point of the disks (disks.ts), then the manifest with every part's SHA-256
 * (format.ts), and let the guest run again. Any failure (a full disk among them) removes the
 * partial directory and the VM runs on.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { Machine } from "../machine/machine.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { VirtioBlk } from "../devices/virtio/blk.js";
import { VirtioNet } from "../devices/virtio/net.js";
import { VirtioMmioTransport } from "../devices/virtio/transport-mmio.js";
import { Ecam, PciWindow } from "../devices/pci/host-bridge.js";
import type { VmSpec } from "../vm/spec.js";
import type { RateLimitSpec } from "../devices/kinds/limit.js";
import { isCorralError } from "../errors.js";
import { freezeDisk, type FrozenDisk } from "./disks.js";
import { SNAPSHOT_FILES, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type FilePart, type Manifest } from "./format.js";
import { isSnapshottable, SnapshotError, type SavedState } from "./state.js";
import { fileDataRuns } from "../sys/mem.js";

/** What the VM process hands over: its machine, its devices in spec order, and host-side state. */
export interface SnapshotSource {
  name: string;
  spec: VmSpec;
  machine: Machine;
  /** The spec's devices as opened, in spec order. */
  devices: readonly VirtioDevice[];
  /** Host-side state that goes along (the agent channel's). */
  host: () => SavedState;
  /** Where the running VM's new disk overlays go (its VM directory). */
  diskDir: string;
}

export interface SnapshotOptions {
  /** Skip hashing RAM (a fork's private, short-lived snapshot): its part then has an empty-file hash. */
  hashRam?: boolean;
  /**
   * A fork's own snapshot, read only while this VM process runs: when RAM lives in a memory file
   * (GuestRam.backWithFile), freeze that file (GuestRam.freezeFile: this VM goes on in a private
   * copy-on-write mapping of it) and make the snapshot's RAM part a link to it,
   * /proc/PID/fd/FD, instead of writing RAM out. Its hash is left out as for hashRam false.
   */
  linkRam?: boolean;
}

/** The machine's state as one JSON value: clock, harts, every MMIO device in bus order. */
export function machineState(m: Machine, host: SavedState): SavedState {
  return {
    machine: m.saveState(),
    harts: m.hartStates(),
    mmio: m.bus.devices().map((d) => {
      if (!isSnapshottable(d))
        throw new SnapshotError("SNAPSHOT_UNSUPPORTED", `device ${d.name} cannot be saved in a snapshot`);
      return { name: d.name, state: d.saveState() };
    }),
    host,
  };
}

/** Refuse before pausing anything: a device that cannot save its state. */
function checkDevices(m: Machine): void {
  if (m.bus.devices().some((d) => d instanceof Ecam || d instanceof PciWindow))
    throw new SnapshotError(
      "SNAPSHOT_UNSUPPORTED",
      "a VM with PCI devices cannot be snapshotted yet (the PCI bus's state is not saved): start it with --transport mmio to snapshot it",
    );
  for (const d of m.bus.devices()) {
    if (d instanceof VirtioMmioTransport) continue;
    if (!isSnapshottable(d))
      throw new SnapshotError(
        "SNAPSHOT_UNSUPPORTED",
        `device ${d.name} cannot be saved in a snapshot yet: start the VM without it to snapshot it`,
      );
  }
}

function unsupportedVirtio(devices: readonly VirtioDevice[]): void {
  for (const d of devices)
    if (!d.saveState)
      throw new SnapshotError(
        "SNAPSHOT_UNSUPPORTED",
        `device ${d.name} cannot be saved in a snapshot yet (its host side is a live connection): start the VM without it to snapshot it`,
      );
}

/**
 * Write `chunks` to a new file `path`, fsynced; returns its part (hash optional). `dataPages`
 * (GuestRam.dataPages, one byte per 4 KiB page of the whole part): a run with no page marked is
 * known to be zeros, and is neither read nor written (hashed as zeros).
 */
function writePart(path: string, chunks: Iterable<Uint8Array>, hash: boolean, dataPages?: Uint8Array): FilePart {
  const fd = openSync(path, "wx", 0o600);
  const h = createHash("sha256");
  let size = 0;
  try {
    for (const c of chunks) {
      // Runs of zeros are left as holes (read back as zeros): an idle guest's RAM is mostly
      // pages it never wrote, and on tmpfs (a fork's snapshot) a hole costs neither a copy nor memory.
      for (let at = 0; at < c.length; at += HOLE_GRAIN) {
        const part = c.subarray(at, Math.min(c.length, at + HOLE_GRAIN));
        if (dataPages && part.length === HOLE_GRAIN && noData(dataPages, (size + at) / PAGE)) {
          if (hash) h.update(ZEROS);
          continue;
        }
        if (hash) h.update(part);
        if (part.length === HOLE_GRAIN && Buffer.compare(part, ZEROS) === 0) continue;
        for (let done = 0; done < part.length;) done += writeSync(fd, part, done, part.length - done, size + at + done);
      }
      size += c.length;
    }
    ftruncateSync(fd, size);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { name: path.slice(path.lastIndexOf("/") + 1), size, sha256: h.digest("hex") };
}

/**
 * Most runs of written pages a later fork's overlay may hold: each clone maps each run (a system
 * call and up to two more mappings in its address space, GuestRam.loadFrom). Past this the fork
 * writes RAM out whole, as a VM whose RAM is not in a memory file does.
 */
const MAX_OVERLAY_RUNS = 1024;

/** The runs of marked pages of `marks` (one byte a page), as [first page, pages] pairs. */
export function pageRuns(marks: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let p = marks.indexOf(1); p >= 0 && p < marks.length;) {
    let q = p + 1;
    while (q < marks.length && marks[q]) q++;
    runs.push([p, q - p]);
    p = marks.indexOf(1, q);
  }
  return runs;
}

/**
 * A later fork's overlay (format.ts ramOverlay): a new file of RAM's size holding, at their own
 * offsets, the pages of `runs` (written since the first fork froze RAM's file) and holes
 * elsewhere. Every page of a run is written, zeros too: that allocates it, so the restore's
 * SEEK_DATA finds exactly these runs. Those pages are this process's own copies, resident: no
 * fault, and the rest of RAM is never read. Not hashed (a fork's private part). Undefined, and no
 * file left, where the file system does not report those very runs (one without SEEK_DATA
 * counts the whole file as data): the fork then writes RAM out whole.
 */
export function writeOverlay(path: string, ram: Uint8Array, runs: readonly [number, number][]): FilePart | undefined {
  const fd = openSync(path, "wx", 0o600);
  let found: [number, number][] = [];
  try {
    ftruncateSync(fd, ram.length);
    for (const [first, pages] of runs) {
      const from = first * PAGE;
      const len = pages * PAGE;
      for (let done = 0; done < len;) done += writeSync(fd, ram, from + done, len - done, from + done);
    }
    found = fileDataRuns(fd, ram.length);
  } catch {
    found = [];
  } finally {
    closeSync(fd);
  }
  const same =
    found.length === runs.length && runs.every(([p, n], i) => found[i]![0] === p * PAGE && found[i]![1] === n * PAGE);
  if (same) return { name: SNAPSHOT_FILES.ramOverlay, size: ram.length, sha256: EMPTY_SHA256 };
  rmSync(path, { force: true });
  return undefined;
}

/** The page of dataPages. */
const PAGE = 4096;

/** No page of the HOLE_GRAIN run from `page` is marked. */
function noData(marks: Uint8Array, page: number): boolean {
  for (let p = page; p < page + HOLE_GRAIN / PAGE; p++) if (marks[p]) return false;
  return true;
}
/** The SHA-256 of no bytes: a part whose hash was not taken (SnapshotOptions). */
const EMPTY_SHA256 = createHash("sha256").digest("hex");

/** The unit of holes in a written part: a zero run shorter than this is written. */
const HOLE_GRAIN = 64 * 1024;
const ZEROS = new Uint8Array(HOLE_GRAIN);

function* slices(u8: Uint8Array, step: number): Generator<Uint8Array> {
  for (let at = 0; at < u8.length; at += step) yield u8.subarray(at, Math.min(u8.length, at + step));
}

/**
 * The spec as JSON, each NIC with the MAC its guest was given (a restore keeps it: the guest's
 * driver read it at boot), and each disk and NIC with its name and the rate limits in force now,
 * which `corral vm limit` may have changed since the spec was written: a restore runs with those.
 */
function savedSpec(src: SnapshotSource): Record<string, unknown> {
  const spec = JSON.parse(JSON.stringify(src.spec)) as VmSpec;
  spec.devices = spec.devices.map((d, i) => {
    const dev = src.devices[i];
    if (d.kind === "net" && dev instanceof VirtioNet)
      return { ...withLimit(d, dev.txLimiter.limit), name: dev.name, mac: dev.mac };
    if (d.kind === "blk" && dev instanceof VirtioBlk) return { ...withLimit(d, dev.limiter.limit), name: dev.name };
    return d;
  });
  return spec as unknown as Record<string, unknown>;
}

/** `d` with `limit` as its limits (none when nothing is limited). */
function withLimit<D extends { limit?: RateLimitSpec | undefined }>(d: D, limit: RateLimitSpec): D {
  const { limit: _old, ...rest } = d;
  return (Object.keys(limit).length > 0 ? { ...rest, limit } : rest) as D;
}

/** Take a snapshot of `src` into `dirArg` (which must not exist). */
export async function takeSnapshot(src: SnapshotSource, dirArg: string, o: SnapshotOptions = {}): Promise<Manifest> {
  const dir = resolve(dirArg);
  const m = src.machine;
  checkDevices(m);
  unsupportedVirtio(src.devices);
  if (m.exited)
    throw new SnapshotError("SNAPSHOT_FAILED", `VM '${src.name}' has ended: nothing to snapshot`, { exitCode: 1 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new SnapshotError("SNAPSHOT_EXISTS", `${dir} already exists: give a new directory for the snapshot`, {
        exitCode: 2,
      });
    throw new SnapshotError(
      "SNAPSHOT_FAILED",
      `cannot create ${dir}: ${code ?? String(e)}; give a directory in a writable place`,
      { exitCode: 2 },
    );
  }
  const resume = await m.pause();
  const frozen: FrozenDisk[] = [];
  try {
    const ramPath = join(dir, SNAPSHOT_FILES.ram);
    const frozenRam = o.linkRam === true ? m.ram.freezeFile() : undefined;
    // A later fork: the file the first one froze, and the pages written since beside it.
    const base = o.linkRam === true && frozenRam === undefined ? m.ram.frozenBase() : undefined;
    const runs = base !== undefined ? pageRuns(base.written) : [];
    const ramOverlay =
      base !== undefined && runs.length <= MAX_OVERLAY_RUNS
        ? writeOverlay(join(dir, SNAPSHOT_FILES.ramOverlay), m.ram.u8, runs)
        : undefined;
    const linked = frozenRam ?? (ramOverlay !== undefined ? base?.fd : undefined);
    const hashRam = o.hashRam !== false && linked === undefined;
    let ram: FilePart;
    if (linked !== undefined) {
      // Another process opens the link to get the file itself (proc(5), /proc/PID/fd).
      symlinkSync(`/proc/${process.pid}/fd/${linked}`, ramPath);
      ram = { name: SNAPSHOT_FILES.ram, size: m.ram.size, sha256: EMPTY_SHA256 };
    } else ram = writePart(ramPath, slices(m.ram.u8, 1 << 24), hashRam, m.ram.dataPages());
    const rst = hashRam ? statSync(ramPath, { bigint: true }) : undefined;
    const state = writePart(
      join(dir, SNAPSHOT_FILES.state),
      [Buffer.from(JSON.stringify(machineState(m, src.host())))],
      true,
    );
    src.devices.forEach((d, i) => {
      if (d instanceof VirtioBlk) frozen.push(freezeDisk(d, i, dir, src.diskDir));
    });
    const manifest: Manifest = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      createdAt: Date.now(),
      source: src.name,
      spec: savedSpec(src),
      sbi: m.sbi !== null,
      ram,
      ...(ramOverlay ? { ramOverlay } : {}),
      ramStamp: rst ? { dev: String(rst.dev), ino: String(rst.ino), mtimeNs: String(rst.mtimeNs) } : null,
      state,
      disks: frozen.map((f) => f.part),
    };
    // Last: a directory without a manifest is no snapshot.
    writePart(join(dir, SNAPSHOT_FILES.manifest), [Buffer.from(JSON.stringify(manifest, null, 2) + "\n")], false);
    const d = openSync(dir, "r");
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
    return manifest;
  } catch (e) {
    for (const f of frozen.reverse()) f.undo();
    rmSync(dir, { recursive: true, force: true });
    if (isCorralError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SnapshotError(
      "SNAPSHOT_FAILED",
      code === "ENOSPC"
        ? `the snapshot of VM '${src.name}' did not fit in ${dir} (no space left on its file system): free space or give a directory elsewhere; the VM runs on`
        : `the snapshot of VM '${src.name}' failed (${code ?? (e instanceof Error ? e.message : String(e))}); the VM runs on`,
    );
  } finally {
    resume();
  }
}
