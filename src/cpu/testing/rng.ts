/**
 * A 32-bit generator with a mixed output (a Weyl sequence through murmur3's finalizer), for the
 * CPU's randomized tests. A bare LCG will not do: its low bits repeat with short periods, and
 * `r() % n` picks then skipped whole instruction kinds (XORI never appeared).
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}
