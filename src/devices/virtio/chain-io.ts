/**
 * Byte-stream access to the buffers of a chain. §2.6.4 (message framing): a device must not assume
 * how the driver split a request into descriptors, so devices read the readable part and write the
 * writable part as one contiguous stream, whatever the segment boundaries.
 */
import type { GuestMemory } from "../../machine/memory.js";
import type { Segment } from "./virtqueue.js";

/**
 * Call `fn(addr, len, at)` for each guest range holding bytes [offset, offset + len) of the stream
 * formed by `segs`, `at` being the range's position in that window; returns the bytes covered
 * (less than `len` when the stream is shorter).
 */
export function forEachRange(
  segs: readonly Segment[],
  offset: number,
  len: number,
  fn: (addr: number, n: number, at: number) => void,
): number {
  let pos = 0;
  let skip = offset;
  for (const s of segs) {
    if (pos >= len) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len - pos);
    fn(s.addr + skip, n, pos);
    pos += n;
    skip = 0;
  }
  return pos;
}

/** Copy bytes [offset, offset + dst.length) of the stream formed by `segs` into `dst`; returns bytes copied. */
export function readSegments(mem: GuestMemory, segs: readonly Segment[], offset: number, dst: Uint8Array): number {
  return forEachRange(segs, offset, dst.length, (addr, n, at) => mem.read(addr, dst.subarray(at, at + n)));
}

/** Copy `src` into the stream formed by `segs` starting at `offset`; returns bytes written. */
export function writeSegments(mem: GuestMemory, segs: readonly Segment[], offset: number, src: Uint8Array): number {
  return forEachRange(segs, offset, src.length, (addr, n, at) => mem.write(addr, src.subarray(at, at + n)));
}

/** All readable bytes of a chain, up to `max` (devices bound what a guest can make them copy). */
export function gather(mem: GuestMemory, segs: readonly Segment[], max: number): Uint8Array {
  const total = segs.reduce((n, s) => n + s.len, 0);
  const out = new Uint8Array(Math.min(total, max));
  readSegments(mem, segs, 0, out);
  return out;
}
