/**
 * Physical memory protection (RISC-V privileged spec, machine-level ISA, "Physical Memory
 * Protection", 3.7). Sixteen entries, as QEMU's virt CPUs have; the CSR numbers of entries 16..63
 * exist and read as zero (3.7.1: "All PMP CSR fields are WARL and may be read-only zero").
 *
 * Granularity G = 0 (4 bytes), as QEMU 7.2: NA4 is selectable and pmpaddr reads back exactly
 * what was written (54 bits).
 *
 * Cost: nothing on the CPU's fast paths. An access that hits the TLB was checked when its entry
 * was filled (Hart's slow paths), and an entry is filled only for a page that one PMP entry
 * covers whole (or none touches) with the permission the access needs; a page split by a PMP
 * boundary is checked byte-exactly on every access and runs its code one instruction per block
 * (`splits`). Every change of the configuration flushes the TLBs and the decoded blocks, as the
 * spec lets an implementation require (3.7.2: after changing PMP settings, software executes an
 * SFENCE.VMA with rs1 = x0 and rs2 = x0 to flush cached translations).
 */
import { PRIV_M } from "../isa/defs.js";

export const PMP_ENTRIES = 16;

/** Permission bits of a pmpcfg byte (3.7.1, figure 3.32), and what an access needs. */
export const PMP_R = 1;
export const PMP_W = 2;
export const PMP_X = 4;
const A_MASK = 0x18;
const A_TOR = 0x08;
const A_NA4 = 0x10;
const L = 0x80;
/** Bits of a pmpcfg byte that hold state: bits 6:5 are reserved, read as zero. */
const CFG_MASK = 0x9f;

const TWO32 = 2 ** 32;

export class Pmp {
  /** pmpcfg bytes by entry. */
  readonly cfg = new Uint8Array(PMP_ENTRIES);
  /** pmpaddr by entry, exact (54 bits do not fit a double): low word, high word (22 bits). */
  readonly addrLo = new Int32Array(PMP_ENTRIES);
  readonly addrHi = new Int32Array(PMP_ENTRIES);

  // The enabled entries in priority order (lowest-numbered first), as byte ranges [lo, hi).
  /** Enabled entries that match some address. */
  n = 0;
  private readonly lo = new Float64Array(PMP_ENTRIES);
  private readonly hi = new Float64Array(PMP_ENTRIES);
  /** R/W/X and L of each. */
  private readonly perm = new Uint8Array(PMP_ENTRIES);
  /** An enabled entry is locked: M-mode accesses are checked too (3.7.1.2). */
  locked = false;

  reset(): void {
    // 3.7.1: the A and L fields of every entry are zero after reset; the rest need not be.
    this.cfg.fill(0);
    this.addrLo.fill(0);
    this.addrHi.fill(0);
    this.compile();
  }

  /** pmpcfgN (N even, RV64): its eight bytes as two words. */
  readCfg(n: number): [number, number] {
    const w = [0, 0];
    for (let k = 0; k < 8; k++) {
      const e = n * 4 + k;
      if (e < PMP_ENTRIES) w[k >> 2]! |= this.cfg[e]! << (8 * (k & 3));
    }
    return [w[0]!, w[1]!];
  }

  /** Write pmpcfgN (N even). Returns whether anything changed. */
  writeCfg(n: number, lo: number, hi: number): boolean {
    let changed = false;
    for (let k = 0; k < 8; k++) {
      const e = n * 4 + k;
      if (e >= PMP_ENTRIES) break;
      const old = this.cfg[e]!;
      if (old & L) continue; // a locked entry ignores writes until reset (3.7.1.2)
      const v = ((k < 4 ? lo : hi) >>> (8 * (k & 3))) & CFG_MASK;
      // R=0, W=1 is reserved (3.7.1): the write is ignored, the entry keeps its setting.
      if ((v & (PMP_R | PMP_W)) === PMP_W) continue;
      if (v !== old) {
        this.cfg[e] = v;
        changed = true;
      }
    }
    if (changed) this.compile();
    return changed;
  }

  /** Write pmpaddrE. Returns whether anything changed. */
  writeAddr(e: number, lo: number, hi: number): boolean {
    if (e >= PMP_ENTRIES) return false;
    // Locked: this entry, and the entry below a locked TOR entry, which is its base (3.7.1.2).
    if (this.cfg[e]! & L) return false;
    if (e + 1 < PMP_ENTRIES && (this.cfg[e + 1]! & (L | A_MASK)) === (L | A_TOR)) return false;
    const h = hi & 0x3fffff; // pmpaddr holds address bits 55:2 (54 bits)
    if (this.addrLo[e] === (lo | 0) && this.addrHi[e] === h) return false;
    this.addrLo[e] = lo;
    this.addrHi[e] = h;
    this.compile();
    return true;
  }

  private addrBytes(e: number): number {
    return (this.addrHi[e]! * TWO32 + (this.addrLo[e]! >>> 0)) * 4;
  }

  /** Rebuild the list of enabled entries (3.7.1.1: address matching). */
  private compile(): void {
    let n = 0;
    let locked = false;
    for (let e = 0; e < PMP_ENTRIES; e++) {
      const c = this.cfg[e]!;
      const a = c & A_MASK;
      if (a === 0) continue;
      let lo: number;
      let hi: number;
      if (a === A_TOR) {
        lo = e === 0 ? 0 : this.addrBytes(e - 1);
        hi = this.addrBytes(e);
        if (lo >= hi) continue; // pmpaddr[i-1] >= pmpaddr[i]: matches no address
      } else if (a === A_NA4) {
        lo = this.addrBytes(e);
        hi = lo + 4;
      } else {
        // NAPOT (A = 3): t trailing ones mean a 2^(t+3)-byte region, its base the bits above them.
        const l = this.addrLo[e]!;
        const h = this.addrHi[e]!;
        const tl = trailingOnes(l);
        const t = Math.min(54, tl < 32 ? tl : 32 + trailingOnes(h | ~0x3fffff));
        // Clear the t ones and the zero above them: -(2^k) as an int32 is the mask of bits >= k.
        const keepLo = t + 1 >= 32 ? 0 : l & -(2 ** (t + 1));
        const keepHi = t >= 54 ? 0 : t + 1 <= 32 ? h : h & -(2 ** (t + 1 - 32));
        lo = (keepHi * TWO32 + (keepLo >>> 0)) * 4;
        hi = lo + 2 ** (t + 3);
      }
      this.lo[n] = lo;
      this.hi[n] = hi;
      this.perm[n] = c & (L | 7);
      if (c & L) locked = true;
      n++;
    }
    this.n = n;
    this.locked = locked;
  }

  /**
   * Whether an access of `size` bytes at physical `pa` needing `need` (PMP_R, PMP_W or PMP_X) is
   * allowed at privilege `priv` (3.7.1.3: the lowest-numbered entry that matches any byte decides,
   * and must match every byte; with no match, only M-mode succeeds).
   */
  allows(pa: number, size: number, need: number, priv: number): boolean {
    const n = this.n;
    for (let k = 0; k < n; k++) {
      const lo = this.lo[k]!;
      const hi = this.hi[k]!;
      if (pa + size <= lo || pa >= hi) continue;
      if (pa < lo || pa + size > hi) return false;
      const p = this.perm[k]!;
      return (priv === PRIV_M && !(p & L)) || (p & need) !== 0;
    }
    return priv === PRIV_M;
  }

  /** Whether the whole 4 KiB page at `page` is allowed alike (so a TLB entry may stand for it). */
  allowsPage(page: number, need: number, priv: number): boolean {
    return this.allows(page, 4096, need, priv);
  }

  /** Whether a region boundary falls inside the page at `page` (its code is run instruction by instruction). */
  splits(page: number): boolean {
    const end = page + 4096;
    for (let k = 0; k < this.n; k++) {
      const lo = this.lo[k]!;
      const hi = this.hi[k]!;
      if ((lo > page && lo < end) || (hi > page && hi < end)) return true;
    }
    return false;
  }
}

function trailingOnes(v: number): number {
  const z = ~v & (v + 1); // the lowest clear bit alone
  return z === 0 ? 32 : 31 - Math.clz32(z);
}
