import { CorralError } from "../errors.js";
import { closeSync, readSync } from "node:fs";
import { HART_AREA, HART_SLOTS, HartArea, JC_OFFSET, MAX_LINEAR, RAM_OFFSET } from "../cpu/wasm/layout.js";
import {
  createMemoryFile,
  fileDataRuns,
  hostAddress,
  mapFilePrivate,
  mapFileRangePrivate,
  mapFileShared,
  markFileData,
  markPrivatePages,
  populatePages,
  residentPages,
  type ResidentPages,
} from "../sys/mem.js";

/** WebAssembly page size (core spec 2.0, 2.5.5). */
const WASM_PAGE = 65536;

/** QEMU virt board: DRAM starts at 2 GiB. */
export const RAM_BASE = 0x8000_0000;
export const PAGE_SIZE = 4096;

/**
 * What a device may do with guest memory: read and write guest-physical ranges, nothing else.
 * Every access is bounds-checked; an address outside RAM throws GuestMemoryError, which device
 * code turns into a failed request (the guest is untrusted, rust-vmm vm-memory style).
 */
export interface GuestMemory {
  /** True when [gpa, gpa+len) lies entirely inside guest RAM. */
  contains(gpa: number, len: number): boolean;
  /** A view (no copy) of guest RAM; valid until the next write to that range by anyone. */
  slice(gpa: number, len: number): Uint8Array;
  /**
   * A view of guest RAM for a device to fill directly (DMA: a disk read lands in the guest's
   * buffer without a bounce copy). Code cached from the range is dropped first, as for write();
   * the caller fills the view before the guest runs again.
   */
  dmaTarget(gpa: number, len: number): Uint8Array;
  read(gpa: number, dst: Uint8Array): void;
  write(gpa: number, src: Uint8Array): void;
  fill(gpa: number, len: number, value: number): void;
  readU8(gpa: number): number;
  readU16(gpa: number): number;
  readU32(gpa: number): number;
  readU64(gpa: number): bigint;
  writeU8(gpa: number, v: number): void;
  writeU16(gpa: number, v: number): void;
  writeU32(gpa: number, v: number): void;
  writeU64(gpa: number, v: bigint): void;
}

export class GuestMemoryError extends CorralError {
  constructor(
    readonly gpa: number,
    readonly len: number,
  ) {
    super("GUEST_MEMORY_RANGE", `guest address 0x${gpa.toString(16)}+${len} is outside guest RAM`);
  }
}

/**
 * Guest RAM: one buffer mapped at RAM_BASE (inside a WebAssembly.Memory, see `memory`). The CPU
 * reads it through `view`/`u8` directly on its fast path; devices go through the checked
 * GuestMemory methods.
 *
 * Code tracking: the CPU caches decoded instructions per physical page. `codePages[p]` is non-zero
 * while page p has cached code; any write that touches such a page (from a device, the loader or
 * the CPU's slow store path) calls `onCodeWrite(p)` so the cache drops that page's blocks.
 */
export class GuestRam implements GuestMemory {
  /**
   * The linear memory that holds RAM and the harts' registers and TLBs (cpu/wasm/layout.ts), so
   * the wasm tier can run on them; undefined when RAM is too large for one (then RAM is a plain
   * ArrayBuffer and the CPU runs without that tier).
   */
  readonly memory: WebAssembly.Memory | undefined;
  /** The buffer RAM lives in, from byte `byteOffset` (RAM offset 0). */
  readonly buffer: ArrayBuffer;
  readonly byteOffset: number;
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly codePages: Uint8Array;
  onCodeWrite: (page: number) => void = () => {};
  /** Drop every decoded block (a hart's PMP or triggers changed: Hart.protectionChanged). */
  onCodeFlush: () => void = () => {};
  private hartAreas = 0;
  private jumpCacheClaimed = false;

  /**
   * `shared`: RAM in a shared WebAssembly.Memory (threads proposal: `shared: true` needs a fixed
   * maximum), for a machine whose harts run on threads of their own (machine/threads/); the
   * code-page marks are then shared too, one bit per hart (threads/code-sync.ts). `attach`: a
   * worker's view of such RAM, made by another thread.
   */
  constructor(
    readonly size: number,
    readonly base: number = RAM_BASE,
    opts: { shared?: boolean; attach?: { memory: WebAssembly.Memory; codePages: Uint8Array } } = {},
  ) {
    if (size <= 0 || size % PAGE_SIZE !== 0)
      throw new RangeError(`RAM size ${size} is not a positive multiple of 4 KiB`);
    const shared = opts.shared === true || opts.attach !== undefined;
    if (shared && RAM_OFFSET + size > MAX_LINEAR) throw new RangeError("shared RAM must fit one wasm memory");
    if (RAM_OFFSET + size <= MAX_LINEAR) {
      const pages = Math.ceil((RAM_OFFSET + size) / WASM_PAGE);
      this.memory = opts.attach?.memory ?? new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
      this.buffer = this.memory.buffer as ArrayBuffer;
      this.byteOffset = RAM_OFFSET;
    } else {
      this.memory = undefined;
      this.buffer = new ArrayBuffer(size);
      this.byteOffset = 0;
    }
    this.u8 = new Uint8Array(this.buffer, this.byteOffset, size);
    this.view = new DataView(this.buffer, this.byteOffset, size);
    this.codePages =
      opts.attach?.codePages ??
      (shared ? new Uint8Array(new SharedArrayBuffer(size / PAGE_SIZE)) : new Uint8Array(size / PAGE_SIZE));
    this.shared = shared;
    this.attached = opts.attach !== undefined;
  }
  /** A worker's view (the constructor's `attach`): its one hart's code cache takes its own jump cache. */
  private readonly attached: boolean;
  /** The hart area of a worker's hart (useHartArea). */
  private ownArea = 0;
  /** RAM is shared between threads (see the constructor). */
  readonly shared: boolean;

  /** A worker's hart `i` takes the area hart i was given on the machine's thread. */
  useHartArea(i: number): void {
    this.hartAreas = i;
    this.ownArea = i;
  }

  /**
   * Make RAM the contents of the file `fd` (a snapshot's RAM, exactly `size` bytes): mapped
   * copy-on-write over RAM's pages (sys/mem.ts), so pages load on first touch and restores of
   * one snapshot share the pages none of them wrote through the host's page cache. Where RAM
   * cannot be mapped (no FFI, RAM not page-aligned in an ArrayBuffer) the file is read in.
   * `overlay` (a later fork's, frozenBase): a file of RAM's size whose data runs replace the
   * same bytes of `fd`; each run is mapped copy-on-write over its place too, so clones share its
   * pages as they share the base's. Call before anything runs on RAM.
   */
  loadFrom(fd: number, overlay?: number): "mapped" | "copied" {
    const runs = overlay !== undefined ? fileDataRuns(overlay, this.size) : [];
    // RAM shared between hart threads cannot be mapped over: it is read in.
    const at = this.mappable();
    let mapped = false;
    if (at !== undefined) {
      try {
        mapFilePrivate(at, this.size, fd);
        // A memory file RAM lived in is dropped with the mapping (closed: the kernel frees it).
        for (const f of [this.liveFile, this.frozenFile]) if (f !== undefined) closeSync(f);
        this.liveFile = this.frozenFile = undefined;
        mapped = true;
      } catch {
        // read it in below
      }
    }
    if (mapped && overlay !== undefined) {
      let i = 0;
      try {
        for (; i < runs.length; i++) mapFileRangePrivate(at! + runs[i]![0], runs[i]![1], overlay, runs[i]![0]);
      } catch {
        // The host refused a mapping (too many): the remaining runs are read in, as copies.
        this.readRuns(overlay, runs.slice(i));
      }
    }
    if (mapped) return "mapped";
    this.readRuns(fd, [[0, this.size]]);
    if (overlay !== undefined) this.readRuns(overlay, runs);
    return "copied";
  }

  /** Read the [offset, length] runs of the file `fd` into the same bytes of RAM. */
  private readRuns(fd: number, runs: readonly (readonly [number, number])[]): void {
    for (const [from, len] of runs)
      for (let done = 0; done < len;) {
        const n = readSync(fd, this.u8, from + done, Math.min(1 << 24, len - done), from + done);
        if (n === 0) throw new RangeError("RAM file shorter than RAM");
        done += n;
      }
  }

  /** The memory file RAM is a shared mapping of (backWithFile), until a fork freezes it. */
  private liveFile: number | undefined;
  /** The memory file a fork froze (freezeFile): RAM is a private mapping of it from then on. */
  private frozenFile: number | undefined;

  /**
   * One byte per page, 1 where the page may hold data, 0 where it surely reads as zeros; or
   * undefined: any page may hold data. For RAM in a memory file (live or frozen by a fork) the
   * file's holes read as zeros, but reading one allocates a page for it in the file (shmem):
   * whoever reads all of RAM (a snapshot, src/snapshot/write.ts) asks this first, so that a
   * snapshot does not fill the file with zero pages.
   */
  dataPages(): Uint8Array | undefined {
    const file = this.liveFile ?? this.frozenFile;
    const at = this.mappable();
    if (file === undefined || at === undefined) return undefined;
    const marks = new Uint8Array(this.size / PAGE_SIZE);
    try {
      markFileData(file, marks, PAGE_SIZE);
      // A private mapping of a frozen file: the pages written since are copies of this process's own.
      if (this.liveFile === undefined) markPrivatePages(at, marks, PAGE_SIZE);
    } catch {
      return undefined;
    }
    return marks;
  }

  /** RAM's pages are a shared mapping of a memory file: dropping them takes MADV_REMOVE (vm/madvise.ts). */
  get fileShared(): boolean {
    return this.liveFile !== undefined;
  }

  /** RAM's first byte in this process's address space, when RAM can be mapped over (page-aligned, not shared between threads). */
  private mappable(): number | undefined {
    // The FFI takes no SharedArrayBuffer (RAM shared between hart threads).
    const at = this.shared ? undefined : hostAddress(this.buffer);
    return at !== undefined && (at + this.byteOffset) % PAGE_SIZE === 0 ? at + this.byteOffset : undefined;
  }

  /**
   * Put RAM in a memory file mapped shared over it (sys/mem.ts createMemoryFile), so that a fork
   * hands its clones the file instead of writing RAM out (freezeFile). Costs nothing more than
   * anonymous memory: pages are allocated on first write either way. Call before anything is
   * written to RAM. False where RAM cannot be mapped (no FFI, RAM shared between threads): it
   * stays anonymous memory.
   */
  backWithFile(): boolean {
    const at = this.mappable();
    if (at === undefined || this.liveFile !== undefined) return false;
    let fd: number;
    try {
      fd = createMemoryFile("corral-guest-ram", this.size);
    } catch {
      return false;
    }
    try {
      mapFileShared(at, this.size, fd);
    } catch {
      closeSync(fd);
      return false;
    }
    this.liveFile = fd;
    return true;
  }

  /**
   * For a fork (src/snapshot/write.ts): freeze RAM's memory file as it is now and return its fd,
   * or undefined when RAM is not in one (then RAM must be written out). RAM becomes a private
   * copy-on-write mapping of the same file: the same bytes, no copy, and from now on this
   * machine's writes land in pages of its own, never in the file. The file is written by no
   * one after this, so clones that map it privately start from exactly this RAM, and neither
   * they nor this machine ever see the others' writes. Call while the machine is paused. The
   * fd stays open (clones open it through /proc/PID/fd while the fork starts them) and RAM
   * stays a private mapping of the file: a later fork links it again, with the pages written since beside it (frozenBase).
   */
  freezeFile(): number | undefined {
    const fd = this.liveFile;
    const at = this.mappable();
    if (fd === undefined || at === undefined) return undefined;
    mapFilePrivate(at, this.size, fd);
    this.liveFile = undefined;
    this.frozenFile = fd;
    return fd;
  }

  /**
   * For a later fork of a VM whose RAM an earlier fork froze (freezeFile): the frozen file, which
   * no one has written since, and one byte per page, 1 where this machine wrote the page since
   * (its own copy in the private mapping), so that the fork's snapshot is that file plus those
   * pages (src/snapshot/write.ts) instead of all of RAM written out. Undefined when RAM is not a
   * frozen file's private mapping or the host cannot say which pages were written. Call while
   * the machine is paused.
   */
  frozenBase(): { fd: number; written: Uint8Array } | undefined {
    const fd = this.frozenFile;
    const at = this.mappable();
    if (fd === undefined || at === undefined) return undefined;
    const written = new Uint8Array(this.size / PAGE_SIZE);
    try {
      markPrivatePages(at, written, PAGE_SIZE);
    } catch {
      return undefined;
    }
    return { fd, written };
  }

  /**
   * The RAM pages the host has mapped, read only and written (since RAM was last mapped from a
   * file; all that were written, for RAM never mapped), ascending; none where the host does not
   * say (sys/mem.ts residentPages).
   */
  residentPages(): ResidentPages {
    const at = this.mappable();
    return (at !== undefined ? residentPages(at, this.size) : undefined) ?? { read: [], written: [] };
  }

  /**
   * Fault `pages` (RAM page numbers, ascending) in now, writable or readable, in a few system
   * calls instead of a host page fault at each first touch (sys/mem.ts populatePages); returns
   * how many were.
   */
  populate(pages: readonly number[], writable: boolean): number {
    const at = this.mappable();
    return at !== undefined ? populatePages(at, pages, writable) : 0;
  }

  /**
   * The jump cache's bytes in `memory` for the one code cache that claims them, or -1: the
   * machine's (JC_OFFSET), or in a worker, whose hart has a code cache of its own, that hart's
   * (HartArea.jc).
   */
  claimJumpCache(): number {
    if (this.memory === undefined || this.jumpCacheClaimed) return -1;
    this.jumpCacheClaimed = true;
    return this.attached ? HART_AREA * this.ownArea + HartArea.jc : JC_OFFSET;
  }

  /** A hart's area in `memory` (byte offset), or -1 when there is no memory or no area left. */
  allocHartArea(): number {
    if (this.memory === undefined || this.hartAreas === HART_SLOTS) return -1;
    return HART_AREA * this.hartAreas++;
  }

  get end(): number {
    return this.base + this.size;
  }

  contains(gpa: number, len: number): boolean {
    return Number.isInteger(gpa) && len >= 0 && gpa >= this.base && gpa + len <= this.base + this.size;
  }

  /** Offset into `u8` of a checked range. */
  private off(gpa: number, len: number): number {
    if (!this.contains(gpa, len)) throw new GuestMemoryError(gpa, len);
    return gpa - this.base;
  }

  /** Tell the code cache about a write to [off, off+len) (offsets relative to RAM start). */
  noteWrite(off: number, len: number): void {
    if (len <= 0) return;
    const last = (off + len - 1) >>> 12;
    for (let p = off >>> 12; p <= last; p++) if (this.codePages[p]) this.onCodeWrite(p);
  }

  slice(gpa: number, len: number): Uint8Array {
    const o = this.off(gpa, len);
    return this.u8.subarray(o, o + len);
  }
  dmaTarget(gpa: number, len: number): Uint8Array {
    const view = this.slice(gpa, len);
    this.noteWrite(gpa - this.base, len);
    return view;
  }
  read(gpa: number, dst: Uint8Array): void {
    const o = this.off(gpa, dst.length);
    dst.set(this.u8.subarray(o, o + dst.length));
  }
  write(gpa: number, src: Uint8Array): void {
    const o = this.off(gpa, src.length);
    this.u8.set(src, o);
    this.noteWrite(o, src.length);
  }
  fill(gpa: number, len: number, value: number): void {
    const o = this.off(gpa, len);
    this.u8.fill(value, o, o + len);
    this.noteWrite(o, len);
  }
  readU8(gpa: number): number {
    return this.u8[this.off(gpa, 1)]!;
  }
  readU16(gpa: number): number {
    return this.view.getUint16(this.off(gpa, 2), true);
  }
  readU32(gpa: number): number {
    return this.view.getUint32(this.off(gpa, 4), true);
  }
  readU64(gpa: number): bigint {
    return this.view.getBigUint64(this.off(gpa, 8), true);
  }
  writeU8(gpa: number, v: number): void {
    const o = this.off(gpa, 1);
    this.u8[o] = v;
    this.noteWrite(o, 1);
  }
  writeU16(gpa: number, v: number): void {
    const o = this.off(gpa, 2);
    this.view.setUint16(o, v, true);
    this.noteWrite(o, 2);
  }
  writeU32(gpa: number, v: number): void {
    const o = this.off(gpa, 4);
    this.view.setUint32(o, v >>> 0, true);
    this.noteWrite(o, 4);
  }
  writeU64(gpa: number, v: bigint): void {
    const o = this.off(gpa, 8);
    this.view.setBigUint64(o, BigInt.asUintN(64, v), true);
    this.noteWrite(o, 8);
  }
}
