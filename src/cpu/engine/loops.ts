/**
 * Loops found early (exec.ts CodeCache.loopMarked): a block that has run `loopMark` times in the interpreter
 * and lies on a cycle of blocks of its own physical page (a loop whose body is one block or a few,
 * joined by static branches, jumps and fall-throughs: wasm/tier.ts staticTargets) is compiled with
 * the rest of its cycle at once, instead of waiting for the `hot` runs of the batch rule. Such a
 * loop is what a CPU-bound program spends its time in, and every pass the interpreter runs before
 * V8 has optimized the interpreter itself costs far more than a pass of compiled code
 * (docs/benchmarks.md, "warmup").
 */
import { staticTargets } from "../wasm/tier.js";
import type { Block } from "./exec.js";

/** At most this many blocks in a loop taken whole (a region function's worth). */
const MAX_LOOP = 16;

/**
 * The blocks of `b`'s page that lie on a cycle through `b` (b first), among the blocks built so
 * far (`at`: the page's blocks by RAM offset) that ran at least a quarter as often as `b` (a
 * loop's body; its cold paths stay out, or a loop's region function grows to kernel-sized
 * functions that TurboFan then spends seconds on); empty when `b` is on none. Blocks that
 * straddle a page, or run alone (solo), or are dead end the search, as they stay out of regions.
 */
export function loopOf(b: Block, at: (off: number) => Block | undefined): Block[] {
  const warm = b.hits >> 2;
  const usable = (x: Block | undefined): x is Block =>
    x !== undefined && !x.dead && !x.solo && x.hi < 0 && (x.hits >= warm || x.wx >= 0);
  if (!usable(b)) return [];
  // Forward: the blocks reachable from b within the page (breadth first, bounded).
  const seen = new Map<number, Block>([[b.off, b]]);
  const edges = new Map<number, number[]>();
  const work = [b];
  while (work.length > 0) {
    const x = work.pop()!;
    const out: number[] = [];
    for (const t of staticTargets(x)) {
      const y = at(t);
      if (!usable(y)) continue;
      out.push(t);
      if (!seen.has(t)) {
        if (seen.size >= MAX_LOOP) continue;
        seen.set(t, y);
        work.push(y);
      }
    }
    edges.set(x.off, out);
  }
  // Backward: of those, the ones from which b is reached again.
  const onCycle = new Set<number>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [off, out] of edges)
      if (!onCycle.has(off) && out.some((t) => t === b.off || onCycle.has(t))) {
        onCycle.add(off);
        grew = true;
      }
  }
  if (!onCycle.has(b.off)) return [];
  return [b, ...[...onCycle].filter((off) => off !== b.off).map((off) => seen.get(off)!)];
}

/**
 * The blocks of a loop's page, other than the loop's (`loop`, from loopOf), that have run at least
 * `min` times and are still interpreted: compiled with the loop (CodeCache.loopMarked), so that the
 * code around a tight loop (the rest of an n-body step: the loops that feed it and the updates
 * after it) stops running interpreted closures at the loop's mark rather than at the batch rule's
 * `hot` runs (docs/benchmarks.md, "warmstep"). Blocks compiled, queued, in a batch being compiled,
 * dead, run alone (solo) or straddling a page are skipped, as the batch rule skips them; at most
 * `max` in all with the loop (a batch's worth), the most run first.
 */
export function warmNeighbours(loop: readonly Block[], page: Iterable<Block>, min: number, max: number): Block[] {
  if (min <= 0 || loop.length >= max) return [];
  const inLoop = new Set(loop);
  const warm: Block[] = [];
  for (const x of page)
    if (
      x.hits >= min &&
      !inLoop.has(x) &&
      x.run === null &&
      x.wx < 0 &&
      !x.queued &&
      !x.compiling &&
      !x.dead &&
      !x.solo &&
      x.hi < 0
    )
      warm.push(x);
  warm.sort((a, c) => c.hits - a.hits);
  return warm.slice(0, max - loop.length);
}
