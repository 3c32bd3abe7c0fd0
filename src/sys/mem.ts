/**
 * Giving memory back to the host kernel. V8 maps a WebAssembly.Memory, and the calloc'd store of a
 * large ArrayBuffer, as private anonymous memory, so madvise(MADV_DONTNEED) drops its pages and
 * later reads see zero-filled pages (madvise(2)).
 */
import { closeSync, openSync, readSync } from "node:fs";
import { sys, type Libc } from "./libc.js";
import {
  MADV_DONTNEED,
  MADV_MERGEABLE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_UNMERGEABLE,
  MAP_FIXED,
  PAGEMAP_ENTRY,
  PAGEMAP_FILE,
  PAGEMAP_PRESENT,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
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

/** madvise(addr, len, MADV_DONTNEED) over whole host pages; true when the kernel dropped them. */
export function dropPages(addr: number, len: number): boolean {
  const f = load();
  return f !== null && f.madvise(BigInt(addr), len, MADV_DONTNEED) === 0;
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
  const f = load();
  if (f === null) throw new SysError("MMAP_FAILED", "mmap of guest RAM", 38 /* ENOSYS */);
  const got = f.mmap(BigInt(addr), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (got !== BigInt(addr)) throw new SysError("MMAP_FAILED", "mmap of guest RAM", f.errno());
}

/** The host's page size, which /proc/self/pagemap counts in (4 KiB on every host Corral runs on). */
const HOST_PAGE = 4096;

/** The pages of a range the host has mapped: read only (still the file's), and written. */
export interface ResidentPages {
  /** Present and still the mapped file's page (read, never written). */
  read: number[];
  /** Present and this process's own copy: written since the range was mapped from a file (any, for anonymous memory). */
  written: number[];
}

/**
 * Which pages of [addr, addr+len) are mapped, and which of them this process wrote
 * (/proc/self/pagemap, layout.ts): host page indexes from `addr`, ascending; undefined when
 * pagemap cannot be read. `addr` and `len` must be page-aligned.
 */
export function residentPages(addr: number, len: number): ResidentPages | undefined {
  const n = Math.floor(len / HOST_PAGE);
  const buf = Buffer.alloc(n * PAGEMAP_ENTRY);
  let fd: number;
  try {
    fd = openSync("/proc/self/pagemap", "r");
  } catch {
    return undefined;
  }
  try {
    for (let done = 0; done < buf.length;) {
      const got = readSync(fd, buf, done, buf.length - done, (addr / HOST_PAGE) * PAGEMAP_ENTRY + done);
      if (got <= 0) return undefined;
      done += got;
    }
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
  // The high 32 bits of each little-endian entry hold both flags: no BigInt per page.
  const hi = new Uint32Array(buf.buffer, buf.byteOffset, n * 2);
  const present = Number(PAGEMAP_PRESENT >> 32n);
  const file = Number(PAGEMAP_FILE >> 32n);
  const out: ResidentPages = { read: [], written: [] };
  for (let i = 0; i < n; i++) {
    const h = hi[i * 2 + 1]!;
    if ((h & present) === 0) continue;
    (h & file ? out.read : out.written).push(i);
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
