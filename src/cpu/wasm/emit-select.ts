/**
 * If-conversion in the wasm tier: a conditional branch over a short arm of ALU ops and at most one
 * store, rejoining, emitted without a host branch. The CPU-bound program's loop spends a third of
 * its region's samples on the instruction after its data-dependent `if (v & 1)` (docs/benchmarks.md,
 * "The compiled loop, third pass"): a mispredicted host branch, and then a `br_table` on the member
 * to run whose target depends on it too.
 *
 * Two shapes, found on the decoded ops (emit.ts emitBody asks `branchShape` at every branch):
 * - a triangle inside a block: `b<cond> L; op; ...; L:` with up to MAX_ARM ops skipped. They run
 *   under the guard "not taken"; DONE then takes back those not retired where it was taken.
 * - a diamond across a region's members (GCC's layout of the CPU-bound loop): `b<cond> T; ops;
 *   j J` in one member, and member T's first ops falling through into J. Both arms run, each
 *   under its guard; DONE counts the arm that was taken; the function goes on at J.
 *
 * An op under a guard takes effect only where the guard holds (the RISC-V semantics of the path
 * the branch takes, unprivileged spec 2.5): a register write selects between the new and the old
 * value (Emitter.setReg); a store goes to its page through the page cache where the guard holds
 * and the cache has the page, else to the hart's scratch pair (written by nothing that is read),
 * and takes the ordinary path (TLB probe, the slow path's service, its faults) only where the
 * guard holds and the cache misses. Arms hold no loads, jumps or closures: nothing else that can
 * trap or has an effect on the rest of the machine. A store is converted only where it has a
 * page cache (never with harts on threads, emit.ts cachedBases): a store to the scratch pair
 * instead of the page must not race with another hart's store there.
 */
import { entryAt, K, type CompileInput } from "../isa/kinds.js";
import { Hint, Op } from "./encoder.js";
import { ALIGN, L, type Emitter } from "./emitter.js";
import { HartArea, RAM_OFFSET } from "./layout.js";

/** Ops an arm may hold. */
export const MAX_ARM = 4;

/** CORRAL_IF_CONVERT=0 emits every branch as a branch (to measure what the conversion is worth). */
export const IF_CONVERT = process.env["CORRAL_IF_CONVERT"] !== "0";

export type Shape =
  /** Ops k+1 .. to-1 of the block are skipped where the branch at op k is taken; op `to` is its target. */
  | { readonly kind: "triangle"; readonly to: number }
  /**
   * Taken, member `t`'s ops 0 .. p-1 run; not taken, the block's ops k+1 .. end-1 and op `end`, a
   * jump (JAL x0) or the fall-through, to the join, where member t's op p starts.
   */
  | { readonly kind: "diamond"; readonly t: number; readonly p: number; readonly end: number };

/** Whether op `k` of `b` may run under a guard: -1 not, 0 a register write, 1 a store. */
function guardable(b: CompileInput, k: number, storable: (a: number) => boolean): -1 | 0 | 1 {
  const [kind, , a] = entryAt(b.code, k);
  if (kind === K.NOP || kind === K.LUI || kind === K.AUIPC) return 0;
  if (kind >= K.ADDI && kind <= K.MULW) return 0;
  if (kind >= K.SB && kind <= K.SD) return storable(a) ? 1 : -1;
  return -1;
}

/** Whether ops lo .. hi-1 of `b` form an arm: each guardable, at most one store. */
function arm(b: CompileInput, lo: number, hi: number, storable: (a: number) => boolean): boolean {
  if (hi - lo > MAX_ARM) return false;
  let stores = 0;
  for (let k = lo; k < hi; k++) {
    const g = guardable(b, k, storable);
    if (g < 0) return false;
    stores += g;
  }
  return stores <= 1;
}

/**
 * The shape of the branch at op `k` of member `j` of `bs` (offsets by RAM offset in `members`),
 * or null to emit it as a branch. `storable(a)`: a store through base register pair `a` has a
 * page cache.
 */
export function branchShape(
  bs: readonly (CompileInput & { readonly off: number })[],
  j: number,
  k: number,
  members: ReadonlyMap<number, number>,
  storable: (a: number) => boolean,
): Shape | null {
  if (!IF_CONVERT) return null;
  const b = bs[j]!;
  const [kind, , , , w1] = entryAt(b.code, k);
  if (kind < K.BEQ || kind > K.BGEU) return null;
  // A triangle: the target is an op of this block, a few ops on. Unconverted, the taken branch
  // left for the block at the target, which ends where this one does unless this one was cut
  // short at MAX_BLOCK instructions (it ends in the fall-through op, not at its page's end):
  // then the budget would be tested at other places than in the other tiers.
  const last = b.count - 1;
  const cut = kindOf(b, last) === K.NEXT && ((b.off + b.offs[last]!) & 0xfff) !== 0;
  for (let to = k + 2; to <= k + 1 + MAX_ARM && to < b.count; to++)
    if (b.offs[to] === w1) return !cut && arm(b, k + 1, to, storable) ? { kind: "triangle", to } : null;
  // A diamond: the target is a member whose first ops fall through into the join, where this
  // block's ops after the branch jump (or fall through) to: a member too, whose ops are the
  // rest of the target's (so that going on there is what running on in the target was).
  const t = members.get(b.off + w1);
  if (t === undefined) return null;
  for (let end = k + 1; end <= k + 1 + MAX_ARM && end < b.count; end++) {
    const [ek, ed, , , ew] = entryAt(b.code, end);
    if (!((ek === K.JAL && ed === 64) || ek === K.NEXT)) continue;
    if (!arm(b, k + 1, end, storable)) return null;
    const bt = bs[t]!;
    const j = members.get(b.off + ew);
    if (j === undefined) return null;
    const p = bt.count - bs[j]!.count;
    if (p < 0 || p > MAX_ARM || bt.offs[p] !== b.off + ew - bt.off) return null;
    return arm(bt, 0, p, storable) && p + end - k > 1 ? { kind: "diamond", t, p, end } : null;
  }
  return null;
}

function kindOf(b: CompileInput, k: number): K {
  return entryAt(b.code, k)[0];
}

/**
 * A store of `size` bytes (opcode `op`) at register pair `a` + `imm` under the emitter's guard,
 * through page cache `cache`: `value` pushes the i64 to store; `fast` and `slow` are the
 * ordinary access's (Emitter.cachedAccess), taken only where the guard holds and the cache
 * misses. The caller touched `a` and the value's register (the ordinary path runs inside an if).
 */
export function guardedStore(
  e: Emitter,
  a: number,
  imm: number,
  size: number,
  op: Op,
  cache: number,
  value: () => void,
  fast: () => void,
  slow: () => void,
): void {
  const c = e.c;
  e.address(a, imm);
  c.get(L.ADDR)
    .i64(-4096 | (size - 1))
    .op(Op.I64And)
    .get(L.HB)
    .mem(Op.I64Load, 3, cache)
    .op(Op.I64Ne);
  e.pushGuard();
  c.op(Op.I32And).open(Op.If, Hint.Unlikely);
  e.cachedAccess(cache, size, L.WT, fast, slow);
  c.op(Op.Else);
  // Where the guard holds the cache has the page: the store's byte in the memory; else the sink.
  c.get(L.ADDR)
    .op(Op.I32WrapI64)
    .get(L.HB)
    .mem(Op.I32Load, 2, cache + 8)
    .op(Op.I32Add)
    .i32(RAM_OFFSET)
    .op(Op.I32Add);
  c.get(L.HB)
    .i32(HartArea.x + 4 * 64)
    .op(Op.I32Add);
  e.pushGuard();
  c.op(Op.Select);
  value();
  c.mem(op, ALIGN[size]!, 0);
  c.op(Op.End);
}
