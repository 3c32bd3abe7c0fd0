/**
 * Giving memory back to the host kernel. V8 maps a WebAssembly.Memory, and the calloc'd store of a
 * large ArrayBuffer, as private anonymous memory, so madvise(MADV_DONTNEED) drops its pages and
 * later reads see zero-filled pages (madvise(2)).
 */
import { sys, type Libc } from "./libc.js";
import { MADV_DONTNEED } from "./layout.js";

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
