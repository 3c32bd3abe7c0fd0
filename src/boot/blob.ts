/**
 * What a boot image's bytes are: already in memory, or an open file the loaders read straight
 * into guest RAM once they know where it goes. Reading a file into a Node buffer and then copying
 * it into RAM faults every page twice (the buffer's, then RAM's): for the default kernel and
 * initramfs (43 MB) about 0.2 s of a 4.5 s boot (docs/benchmarks.md, imgload section).
 */
import { readSync } from "node:fs";
import { BootError } from "./errors.js";

/** An open regular file of `size` bytes (its owner opens and closes it; the loaders only read it, from offset 0). */
export interface BlobFile {
  fd: number;
  size: number;
}

export type BlobData = Uint8Array | BlobFile;

export function blobSize(d: BlobData): number {
  return d instanceof Uint8Array ? d.length : d.size;
}

/** Fill `dst` with the blob's bytes from `pos` on; a file that shrank since its size was taken is refused. */
export function readBlobInto(d: BlobData, dst: Uint8Array, name: string, pos = 0): void {
  if (d instanceof Uint8Array) {
    dst.set(d.subarray(pos, pos + dst.length));
    return;
  }
  for (let done = 0; done < dst.length;) {
    // readSync reads at most 2 GiB at a time and may return less: loop until the range is full.
    const n = readSync(d.fd, dst, done, Math.min(1 << 30, dst.length - done), pos + done);
    if (n === 0)
      throw new BootError(
        "IMAGE_CHANGED",
        `${name} shrank while it was being read: leave it unchanged while a VM boots`,
      );
    done += n;
  }
}

/** The blob's first `len` bytes (fewer if it is shorter). */
export function blobHead(d: BlobData, len: number, name: string): Uint8Array {
  const out = new Uint8Array(Math.min(len, blobSize(d)));
  readBlobInto(d, out, name);
  return out;
}

/** The whole blob as bytes (a file is read once, into a buffer of its own). */
export function blobBytes(d: BlobData, name: string): Uint8Array {
  if (d instanceof Uint8Array) return d;
  const out = new Uint8Array(d.size);
  readBlobInto(d, out, name);
  return out;
}
