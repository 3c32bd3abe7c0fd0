/**
 * Child process for the overlay crash test: opens an overlay and writes block after block (each a
 * distinct 4 KiB block, content derived from its index), flushing every `every` writes and
 * printing "flushed <index>" after each flush, until killed or `count` blocks are written.
 * Usage: node overlay-writer.js <overlay> <firstIndex> <every> <count>
 */
import { OverlayDisk } from "../overlay.js";

export const BLOCK = 4096;

/** The content block `i` gets: its index and a pattern that changes with it. */
export function blockContent(i: number): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const v = new DataView(b.buffer);
  for (let w = 0; w < BLOCK / 4; w++) v.setUint32(w * 4, (Math.imul(i + 1, 0x9e3779b1) ^ w) >>> 0, true);
  return b;
}

/** Where block `i` goes: spread over the disk, hitting both fresh and already allocated clusters. */
export function blockOffset(i: number, diskSize: number): number {
  const blocks = diskSize / BLOCK;
  return ((i * 7919) % blocks) * BLOCK;
}

if (process.argv[1]?.endsWith("overlay-writer.js")) {
  const [path, first, every, count] = process.argv.slice(2);
  const disk = OverlayDisk.open(path!);
  const n = Number(every);
  const start = Number(first);
  for (let i = start; i < start + Number(count); i++) {
    disk.write(blockOffset(i, disk.size), blockContent(i));
    if ((i + 1) % n === 0) {
      disk.flush();
      process.stdout.write(`flushed ${i}\n`);
    }
  }
  process.stdout.write("done\n");
  setInterval(() => {}, 1000); // wait to be killed, like a VM that keeps running
}
