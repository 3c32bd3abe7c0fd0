/**
 * The worker thread of write-behind (write-behind.ts): takes writes from the shared ring in
 * order and stores them in the image file with pwrite. It records the first failure's errno for
 * the device to report, and leaves when asked once the ring is empty.
 */
import { writeSync } from "node:fs";
import { workerData } from "node:worker_threads";
import { Ring } from "./write-ring.js";

const { sab, fd } = workerData as { sab: SharedArrayBuffer; fd: number };
const ring = new Ring(sab);
let tail = ring.tail;
for (;;) {
  const head = ring.head;
  if (head === tail) {
    if (ring.stopping) break;
    ring.waitHead(tail);
    continue;
  }
  const delay = ring.delayMs;
  if (delay > 0) ring.sleep(delay);
  const { position, data } = ring.slot(tail);
  try {
    for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, position + done);
  } catch (e) {
    ring.fail((e as NodeJS.ErrnoException).errno ?? -5);
  }
  tail = (tail + 1) | 0;
  ring.advanceTail(tail);
}
