/**
 * AMOs, LR and SC for harts that run on threads of their own over one shared guest RAM
 * (machine/threads/): every read-modify-write is one host atomic operation (Atomics.* on the
 * shared memory), so no other hart's access lands between its read and its write, as the
 * unprivileged spec's "A" extension requires of an AMO (chapter 8.4, "Atomic Memory Operations").
 *
 * LR/SC (chapter 8.2, "Load-Reserved/Store-Conditional Instructions") are done as QEMU's
 * multi-threaded TCG does them: LR records the address and the value it loaded; SC stores with a
 * compare-and-exchange against that value, and succeeds only when memory still held it. A
 * reservation table in shared memory would have to be checked by every plain store of every hart
 * (the fast paths and compiled code store without a call); the compare-exchange needs nothing
 * from them. What it gives up: a store by another hart of the very value LR read (ABA) does not
 * make the SC fail, where the spec says it should. Linux's LR/SC loops (cmpxchg, atomics,
 * spinlocks) only ask that the SC succeed when memory still holds what LR read, which this keeps;
 * the forward-progress guarantee of 8.3 (constrained loops eventually succeed) holds since an SC
 * fails only when another hart's store changed the word. RVWMO (chapter 17): each Atomics
 * operation is sequentially consistent, stronger than any .aq/.rl combination asks.
 */
import { HartArea } from "../wasm/layout.js";
import { TWO32 } from "./int64.js";
import { AMO32, amo64, amo64Hi } from "./ops-mem.js";
import type { Op } from "./ops-int.js";

const RES_LO = HartArea.resLo >>> 2;
const RES_HI = HartArea.resHi >>> 2;

function pair(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

/** AMO, LR and SC (chapter 8) over shared RAM. Returns null for an unknown funct5. */
export function amoShared(funct5: number, double: boolean, d: number, a: number, b: number): Op | null {
  const size = double ? 8 : 4;
  if (funct5 === 0x02)
    return (h) => {
      const x = h.x;
      const off = h.amoOffset(x[a + 1]! * TWO32 + (x[a]! >>> 0), size, true);
      let lo: number;
      let hi: number;
      if (double) {
        const v = Atomics.load(h.i64, off >>> 3);
        lo = Number(BigInt.asIntN(32, v));
        hi = Number(v >> 32n);
      } else {
        lo = Atomics.load(h.i32, off >>> 2);
        hi = lo >> 31;
      }
      h.slots[RES_LO] = lo;
      h.slots[RES_HI] = hi;
      x[d] = lo;
      x[d + 1] = hi;
      h.reservation = off;
    };
  if (funct5 === 0x03)
    return (h) => {
      const x = h.x;
      const off = h.amoOffset(x[a + 1]! * TWO32 + (x[a]! >>> 0), size, false);
      let ok = h.reservation === off;
      h.reservation = -1;
      if (ok) {
        const lo = h.slots[RES_LO]!;
        if (double) {
          const want = pair(lo, h.slots[RES_HI]!);
          ok = Atomics.compareExchange(h.i64, off >>> 3, want, pair(x[b]!, x[b + 1]!)) === want;
        } else ok = Atomics.compareExchange(h.i32, off >>> 2, lo, x[b]!) === lo;
      }
      x[d] = ok ? 0 : 1;
      x[d + 1] = 0;
    };
  if (!double) {
    const f = AMO32[funct5];
    if (!f) return null;
    const one = oneInstruction32(funct5);
    return (h) => {
      const x = h.x;
      const w = h.amoOffset(x[a + 1]! * TWO32 + (x[a]! >>> 0), 4, false) >>> 2;
      const v = x[b]!;
      let old: number;
      if (one !== null) old = one(h.i32, w, v);
      else
        for (;;) {
          old = Atomics.load(h.i32, w);
          if (Atomics.compareExchange(h.i32, w, old, f(old, v)) === old) break;
        }
      x[d] = old;
      x[d + 1] = old >> 31;
    };
  }
  if (!(funct5 in AMO32)) return null;
  return (h) => {
    const x = h.x;
    const w = h.amoOffset(x[a + 1]! * TWO32 + (x[a]! >>> 0), 8, false) >>> 3;
    let old: bigint;
    for (;;) {
      old = Atomics.load(h.i64, w);
      const ol = Number(BigInt.asIntN(32, old));
      const oh = Number(old >> 32n);
      const nl = amo64(funct5, ol, oh, x[b]!, x[b + 1]!);
      if (Atomics.compareExchange(h.i64, w, old, pair(nl, amo64Hi())) === old) {
        x[d] = ol;
        x[d + 1] = oh;
        return;
      }
    }
  };
}

/** The 32-bit AMOs with an Atomics operation of their own (the rest loop on compare-exchange). */
function oneInstruction32(funct5: number): ((m: Int32Array, w: number, v: number) => number) | null {
  switch (funct5) {
    case 0x00:
      return (m, w, v) => Atomics.add(m, w, v);
    case 0x01:
      return (m, w, v) => Atomics.exchange(m, w, v);
    case 0x04:
      return (m, w, v) => Atomics.xor(m, w, v);
    case 0x08:
      return (m, w, v) => Atomics.or(m, w, v);
    case 0x0c:
      return (m, w, v) => Atomics.and(m, w, v);
    default:
      return null;
  }
}
