/**
 * Giving memory back to the host kernel. V8 maps a WebAssembly.Memory, and the calloc'd store of a
 * large ArrayBuffer, as private anonymous memory, so madvise(MADV_DONTNEED) drops its pages and
 * later reads see zero-filled pages (madvise(2)).
 */
import { sys, type Libc } from "./libc.js";
import { closeSync, ftruncateSync, openSync, readSync } from "node:fs";
import {
  MADV_DONTNEED,
  MADV_REMOVE,
  MADV_MERGEABLE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_UNMERGEABLE,
  MAP_FIXED,
  PAGEMAP_ENTRY,
  PAGEMAP_FILE,
  PAGEMAP_PRESENT,
  PAGEMAP_SWAPPED,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  SEEK_DATA,
  SEEK_HOLE,
} from "./layout.js";
import { SysError } from "./errno.js";

let ffi: Libc | null | undefined;

function load(): Libc | null {
  if (ffi === undefined) {
    try {
      ffi = sys();
    } catch {
      ffi = null; // no FFI: callers zero the memory themselves and keep it resident
    }
  }
  return ffi;
}

/** The host address of `buf`'s first byte, or undefined when the FFI cannot be loaded. */
export function hostAddress(buf: ArrayBufferLike): number | undefined {
  const f = load();
  // koffi.address takes the ArrayBuffer itself: a TypedArray argument would be copied.
  return f ? Number(f.address(buf)) : undefined;
}

/**
 * Drop whole host pages of [addr, addr+len); true when the kernel dropped them. Private memory:
 * madvise(MADV_DONTNEED). A shared mapping of a memory file (`shared`, mapFileShared): DONTNEED
 * would only unmap, the file keeps the pages and their bytes; MADV_REMOVE frees them in the file
 * too (madvise(2): a hole is punched, later reads see zeros).
 */
export function dropPages(addr: number, len: number, shared = false): boolean {
  const f = load();
  return f !== null && f.madvise(BigInt(addr), len, shared ? MADV_REMOVE : MADV_DONTNEED) === 0;
}

/**
 * madvise(addr, len, MADV_MERGEABLE or MADV_UNMERGEABLE): offer the range's pages to the host
 * kernel's same-page merging (KSM), or take them back (KSM copies merged pages apart again).
 * `addr` and `len` must be host-page aligned. Throws SysError (code MEM_ADVICE) when the kernel
 * refuses: EINVAL means a kernel built without CONFIG_KSM.
 */
export function adviseMergeable(addr: number, len: number, on: boolean): void {
  const f = load();
  if (f === null) throw new SysError("MEM_ADVICE", "madvise(MADV_MERGEABLE): no FFI", 0);
  if (f.madvise(BigInt(addr), len, on ? MADV_MERGEABLE : MADV_UNMERGEABLE) !== 0)
    throw new SysError("MEM_ADVICE", `madvise(${on ? "MADV_MERGEABLE" : "MADV_UNMERGEABLE"})`, f.errno());
}

/**
 * Give the C heap's free memory back to the kernel (glibc malloc_trim(3): the free top of every
 * arena, and the free pages inside them). Freed blocks of a large heap stay resident otherwise.
 * True when something was given back; false also where there is no FFI or no glibc (libc.ts).
 */
export function trimMallocHeap(): boolean {
  const f = load();
  if (f === null) return false;
  return f.mallocTrim(0) === 1;
}

/**
 * Map `len` bytes of the file `fd` from offset 0 copy-on-write over [addr, addr+len), which must
 * be page-aligned memory this process owns (guest RAM inside its WebAssembly.Memory): mmap(2)
 * MAP_PRIVATE | MAP_FIXED. Pages load from the file on first touch and are shared through the
 * page cache with every other private mapping of it until written; writes never reach the file.
 * Throws SysError when the FFI cannot be loaded or the kernel refuses.
 */
export function mapFilePrivate(addr: number, len: number, fd: number): void {
  mapFile(addr, len, fd, MAP_PRIVATE);
}

/**
 * Map `len` bytes of the file `fd` shared over [addr, addr+len) (mmap(2) MAP_SHARED | MAP_FIXED):
 * writes to the memory are writes to the file, and every other shared mapping sees them. Same
 * conditions and errors as mapFilePrivate.
 */
export function mapFileShared(addr: number, len: number, fd: number): void {
  mapFile(addr, len, fd, MAP_SHARED);
}

/**
 * Map `len` bytes of the file `fd` from `offset` copy-on-write over [addr, addr+len), as
 * mapFilePrivate does for a whole file: a run of pages laid over part of a mapping (a later
 * fork's overlay, GuestRam.loadFrom). `offset` and `len` must be page-aligned.
 */
export function mapFileRangePrivate(addr: number, len: number, fd: number, offset: number): void {
  mapFile(addr, len, fd, MAP_PRIVATE, offset);
}

function mapFile(addr: number, len: number, fd: number, flags: number, offset = 0): void {
  const f = load();
  if (f === null) throw new SysError("MMAP_FAILED", "mmap of guest RAM", 38 /* ENOSYS */);
  const got = f.mmap(BigInt(addr), len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, offset);
  if (got !== BigInt(addr)) throw new SysError("MMAP_FAILED", "mmap of guest RAM", f.errno());
}

/**
 * A new file in memory of `size` bytes, all holes (memfd_create(2), close-on-exec): no page is
 * allocated until written, as for anonymous memory, and out of memory is the OOM killer's as
 * for anonymous memory (a file on a tmpfs mount would raise SIGBUS at its size limit). Its fd
 * is returned; another process opens it through /proc/PID/fd/FD. Throws SysError.
 */
export function createMemoryFile(name: string, size: number): number {
  const f = load();
  if (f === null) throw new SysError("MEMFD_FAILED", `memfd_create ${name}`, 38 /* ENOSYS */);
  const fd = f.memfdCreate(name, MFD_CLOEXEC);
  if (fd < 0) throw new SysError("MEMFD_FAILED", `memfd_create ${name}`, f.errno());
  try {
    ftruncateSync(fd, size);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * The runs of the first `size` bytes of the file `fd` that hold data, as [offset, length] pairs
 * in ascending order: lseek(2) SEEK_DATA and SEEK_HOLE, which on tmpfs and memfd count every
 * allocated page (swapped out or not) as data, a page written with zeros included. Anything else
 * reads as zeros. Throws SysError.
 */
export function fileDataRuns(fd: number, size: number): [number, number][] {
  const f = load();
  if (f === null) throw new SysError("SEEK_FAILED", "lseek(SEEK_DATA)", 38 /* ENOSYS */);
  const end = BigInt(size);
  const runs: [number, number][] = [];
  for (let at = 0n; at < end;) {
    const data = f.lseek(fd, at, SEEK_DATA);
    if (data < 0n) {
      if (f.errno() === 6 /* ENXIO: no data after `at` */) break;
      throw new SysError("SEEK_FAILED", "lseek(SEEK_DATA)", f.errno());
    }
    if (data >= end) break;
    const hole = f.lseek(fd, data, SEEK_HOLE);
    if (hole < 0n) throw new SysError("SEEK_FAILED", "lseek(SEEK_HOLE)", f.errno());
    const stop = hole < end ? hole : end;
    runs.push([Number(data), Number(stop - data)]);
    at = stop;
  }
  return runs;
}

/**
 * Mark in `marks` (one byte per page of `pageSize`) every page of the file `fd` that holds data
 * (fileDataRuns). A page left unmarked is a hole and reads as zeros. Throws SysError.
 */
export function markFileData(fd: number, marks: Uint8Array, pageSize: number): void {
  for (const [at, len] of fileDataRuns(fd, marks.length * pageSize))
    marks.fill(1, Math.floor(at / pageSize), Math.ceil((at + len) / pageSize));
}

/** The host's page size, which /proc/self/pagemap counts in (4 KiB on every host Corral runs on). */
const HOST_PAGE = 4096;

/**
 * The /proc/self/pagemap entries of the `n` host pages from `addr`, as 32-bit words: entry i's high
 * half, which holds every flag read here (layout.ts), is word 2i + 1, so no BigInt per page. Throws
 * SysError when pagemap cannot be read.
 */
function pagemapWords(addr: number, n: number): Uint32Array {
  const buf = Buffer.alloc(n * PAGEMAP_ENTRY);
  const fail = (errno: number): SysError => new SysError("PAGEMAP_FAILED", "read /proc/self/pagemap", errno);
  let fd: number;
  try {
    fd = openSync("/proc/self/pagemap", "r");
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).errno ?? 0);
  }
  try {
    for (let done = 0; done < buf.length;) {
      const got = readSync(fd, buf, done, buf.length - done, (addr / HOST_PAGE) * PAGEMAP_ENTRY + done);
      if (got <= 0) throw fail(5 /* EIO: short read */);
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return new Uint32Array(buf.buffer, buf.byteOffset, n * 2);
}

const high = (bit: bigint): number => Number(bit >> 32n);

/**
 * Mark in `marks` every page of [addr, addr + marks.length pages) that is this process's own
 * anonymous copy (present or swapped, not a page of a file): the pages a private mapping of a
 * file got by being written. Throws SysError.
 */
export function markPrivatePages(addr: number, marks: Uint8Array, pageSize: number): void {
  if (pageSize !== HOST_PAGE) throw new SysError("PAGEMAP_FAILED", `pagemap in ${pageSize}-byte pages`, 22);
  const words = pagemapWords(addr, marks.length);
  const own = high(PAGEMAP_PRESENT) | high(PAGEMAP_SWAPPED);
  const file = high(PAGEMAP_FILE);
  for (let i = 0; i < marks.length; i++) {
    const h = words[2 * i + 1]!;
    if ((h & own) !== 0 && (h & file) === 0) marks[i] = 1;
  }
}

/** The pages of a range the host has mapped: read only (still the file's), and written. */
export interface ResidentPages {
  /** Present and still the mapped file's page (read, never written). */
  read: number[];
  /** Present and this process's own copy: written since the range was mapped from a file (any, for anonymous memory). */
  written: number[];
}

/**
 * Which pages of [addr, addr+len) are mapped, and which of them this process wrote: host page
 * indexes from `addr`, ascending; undefined when pagemap cannot be read. `addr` and `len` must be
 * page-aligned.
 */
export function residentPages(addr: number, len: number): ResidentPages | undefined {
  const n = Math.floor(len / HOST_PAGE);
  let words: Uint32Array;
  try {
    words = pagemapWords(addr, n);
  } catch {
    return undefined;
  }
  const present = high(PAGEMAP_PRESENT);
  const file = high(PAGEMAP_FILE);
  const out: ResidentPages = { read: [], written: [] };
  // One plain loop over the 65,536 entries of 256 MiB: a TypedArray.filter and a forEach with
  // callbacks took 30 to 70 ms of a clone's swap in a pool process, where this code runs cold.
  for (let i = 0; i < n; i++) {
    const h = words[2 * i + 1]!;
    if ((h & present) !== 0) (h & file ? out.read : out.written).push(i);
  }
  return out;
}

/**
 * Fault the pages `pages` (host page indexes from `addr`, ascending) in now, writable (as a write
 * would: a private file mapping's page is copied) or readable, one madvise(MADV_POPULATE_WRITE or
 * MADV_POPULATE_READ) per run of consecutive pages: a host page fault per page enters and leaves
 * the kernel, which on a host that is itself a VM costs tens of microseconds; the kernel's own
 * loop costs 1 to 3. Returns the pages populated; a kernel without these (before 5.14) or no FFI
 * populates none, and the pages fault in as they are touched.
 */
export function populatePages(addr: number, pages: readonly number[], writable: boolean): number {
  const f = load();
  if (f === null) return 0;
  const advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  let done = 0;
  for (let i = 0; i < pages.length;) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
    if (f.madvise(BigInt(addr + pages[i]! * HOST_PAGE), (j - i) * HOST_PAGE, advice) !== 0) return done;
    done += j - i;
    i = j;
  }
  return done;
}
