/**
 * Random bytes from the kernel's generator (random(4): /dev/urandom, the source getrandom(2)
 * reads), for the few a VM's start needs (the devicetree's rng-seed, the VM generation ID):
 * node:crypto's randomBytes reads the same generator, but loading node:crypto costs more than a
 * whole machine build (docs/benchmarks.md, "Start-up of corral run").
 */
import { closeSync, openSync, readSync } from "node:fs";

export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = openSync("/dev/urandom", "r");
  try {
    for (let done = 0; done < n;) {
      const got = readSync(fd, out, done, n - done, null);
      if (got <= 0) throw new Error("/dev/urandom gave no bytes");
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
