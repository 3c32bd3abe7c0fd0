/**
 * The wasm tier's inline forms of the M and A extensions and of sstatus's interrupt-enable
 * accesses (emit.ts's switch calls them for their kinds): instructions that were the most
 * frequent closure calls in kernel code (docs/benchmarks.md, seventh session).
 */
import { amoDouble, K, type AtomicKind, type Entry } from "../isa/kinds.js";
import { Csr, MS_FS, MS_SIE, PRIV_S, SSTATUS_HI_XL, SSTATUS_MASK } from "../isa/defs.js";
import { Hint, Op } from "./encoder.js";
import { ALIGN, Emitter, L, S_CALL, tlbMatch } from "./emitter.js";
import { HartArea, RAM_OFFSET, STOP_IRQ } from "./layout.js";

/**
 * AMOs by kind (chapter 8): the wasm op combining old and rs2, or for min/max a comparison
 * choosing old (`select`); W forms as i32, D forms as i64.
 */
type AmoOp = readonly [op: Op | "swap", pickOld?: Op];
export type AmoKind = Exclude<AtomicKind, K.LR_W | K.SC_W | K.LR_D | K.SC_D>;
const AMO: Record<AmoKind, AmoOp> = {
  [K.AMOADD_W]: [Op.I32Add],
  [K.AMOSWAP_W]: ["swap"],
  [K.AMOXOR_W]: [Op.I32Xor],
  [K.AMOOR_W]: [Op.I32Or],
  [K.AMOAND_W]: [Op.I32And],
  [K.AMOMIN_W]: [Op.Select, Op.I32LtS],
  [K.AMOMAX_W]: [Op.Select, Op.I32GtS],
  [K.AMOMINU_W]: [Op.Select, Op.I32LtU],
  [K.AMOMAXU_W]: [Op.Select, Op.I32GtU],
  [K.AMOADD_D]: [Op.I64Add],
  [K.AMOSWAP_D]: ["swap"],
  [K.AMOXOR_D]: [Op.I64Xor],
  [K.AMOOR_D]: [Op.I64Or],
  [K.AMOAND_D]: [Op.I64And],
  [K.AMOMIN_D]: [Op.Select, Op.I64LtS],
  [K.AMOMAX_D]: [Op.Select, Op.I64GtS],
  [K.AMOMINU_D]: [Op.Select, Op.I64LtU],
  [K.AMOMAXU_D]: [Op.Select, Op.I64GtU],
};
/** The M extension's kinds beyond MUL and MULW, emitted by mulDiv. */
export type MulDivKind =
  K.MULH | K.MULHSU | K.MULHU | K.DIV | K.DIVU | K.REM | K.REMU | K.DIVW | K.DIVUW | K.REMW | K.REMUW;

/** Emits the M and A extensions and sstatus's SIE accesses inline. */
export class ExtEmitter extends Emitter {
  /** An AMO, LR or SC's access size; sets ADDR to rs1 (chapter 8: no offset). */
  atomicOperands(kind: AtomicKind, a: number): 4 | 8 {
    this.reg(a);
    this.c.set(L.ADDR);
    return amoDouble(kind) ? 8 : 4;
  }

  /**
   * For AMOs, LR and SC (ADDR set): open an `if` taken when the access is aligned and the page is
   * in the TLB `tags` (as Hart.amoOffset's fast path), with OFF the RAM offset inside it.
   */
  atomicProbe(size: number, tags: L.RT | L.WT): void {
    const c = this.c;
    c.get(L.ADDR)
      .op(Op.I32WrapI64)
      .i32(size - 1)
      .op(Op.I32And)
      .op(Op.I32Eqz);
    tlbMatch(c, L.ADDR, () => c.get(tags), L.IDX, L.OFF);
    c.op(Op.I32And);
    c.open(Op.If, Hint.Likely);
    c.get(L.OFF).i32(0xfff).op(Op.I32And).set(L.OFF);
    this.ramAddr();
    c.set(L.OFF);
  }

  /**
   * Close atomicProbe's `if` with the other arm: op `k`'s closure. It reads its operands from
   * memory and writes rd there: store what was dirty before the fast arm (not rd, set only in
   * that arm), then take rd back.
   */
  atomicFallback(k: number, d: number, dirtyBefore: ReadonlySet<number>): void {
    const c = this.c;
    c.op(Op.Else);
    this.flush(false, dirtyBefore);
    this.service(S_CALL, k);
    if (d !== 64)
      c.get(L.HB)
        .mem(Op.I64Load, 3, HartArea.x + 4 * d)
        .set(this.local(d));
    c.op(Op.End);
  }

  /**
   * An AMO (unprivileged spec chapter 8) inline: aligned and in a page the write TLB holds (as
   * Hart.amoOffset's fast path), the read, the operation and the write happen here; otherwise the
   * instruction's closure runs it (and raises its faults). LR and SC stay closures (they keep
   * the reservation, see lrsc). The kernel's page reference counts are AMOs: a quarter of a
   * direct-I/O read's closure calls were.
   */
  amo(kind: AmoKind, d: number, a: number, b: number, k: number): void {
    const c = this.c;
    const size = this.atomicOperands(kind, a);
    this.touch(b);
    const dirtyBefore = new Set(this.dirty);
    this.atomicProbe(size, L.WT);
    c.get(L.OFF)
      .mem(size === 4 ? Op.I64Load32S : Op.I64Load, ALIGN[size]!, RAM_OFFSET)
      .set(L.V);
    c.get(L.OFF);
    // The new value from the old one and rs2: W forms on the low words (i32), D forms on i64.
    const old = (): void => {
      c.get(L.V);
      if (size === 4) c.op(Op.I32WrapI64);
    };
    const src = (): void => {
      this.reg(b);
      if (size === 4) c.op(Op.I32WrapI64);
    };
    const [op, cmp] = AMO[kind];
    if (op === "swap") src();
    else if (cmp === undefined) {
      old();
      src();
      c.op(op);
    } else {
      old();
      src();
      old();
      src();
      c.op(cmp).op(Op.Select);
    }
    c.mem(size === 4 ? Op.I32Store : Op.I64Store, ALIGN[size]!, RAM_OFFSET);
    if (d !== 64) this.setReg(d, () => c.get(L.V));
    this.atomicFallback(k, d, dirtyBefore);
  }

  /**
   * LR and SC (unprivileged spec 8.2) inline, as the closures do them (ops-mem.ts) when the
   * address is aligned and the page is in the read (LR) or write (SC) TLB: LR loads and reserves
   * the RAM offset, SC stores only if the reservation is that offset, and either clears it. The
   * reservation is the hart's slot (Hart.reservation). Otherwise the closure runs. Linux's
   * cmpxchg loops are LR/SC: about one pair per page of a disk read.
   */
  lrsc(kind: K.LR_W | K.SC_W | K.LR_D | K.SC_D, d: number, a: number, b: number, k: number): void {
    const lr = kind === K.LR_W || kind === K.LR_D;
    const c = this.c;
    const size = this.atomicOperands(kind, a);
    if (!lr) this.touch(b);
    const dirtyBefore = new Set(this.dirty);
    this.atomicProbe(size, lr ? L.RT : L.WT);
    if (lr) {
      c.get(L.OFF)
        .mem(size === 4 ? Op.I64Load32S : Op.I64Load, ALIGN[size]!, RAM_OFFSET)
        .set(L.V);
      c.get(L.HB).get(L.OFF).mem(Op.I32Store, 2, HartArea.reservation);
    } else {
      // V = 1 (failure) unless the reservation is this offset; then store rs2 and V = 0.
      c.i64(1).set(L.V);
      c.get(L.HB).mem(Op.I32Load, 2, HartArea.reservation).get(L.OFF).op(Op.I32Eq).open(Op.If);
      c.get(L.OFF);
      this.reg(b);
      if (size === 4) c.op(Op.I32WrapI64).mem(Op.I32Store, 2, RAM_OFFSET);
      else c.mem(Op.I64Store, 3, RAM_OFFSET);
      c.i64(0).set(L.V);
      c.op(Op.End);
      c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.reservation);
    }
    if (d !== 64) this.setReg(d, () => c.get(L.V));
    this.atomicFallback(k, d, dirtyBefore);
  }

  /**
   * The M extension's instructions other than MUL and MULW (unprivileged spec, the "M" extension
   * for integer multiplication and division) inline: MULH, MULHSU and MULHU from 32-bit partial
   * products (wasm has no high multiply); DIV, DIVU, REM, REMU and the W forms with RISC-V's
   * results for a zero divisor and for signed overflow (its table of division by zero and
   * overflow) where wasm would trap: the divisor becomes 1 there and the result is picked with
   * `select`. MULHU alone was millions of closure calls in a boot.
   */
  mulDiv(kind: MulDivKind, d: number, a: number, b: number): void {
    const c = this.c;
    this.reg(a);
    c.set(L.TA);
    this.reg(b);
    c.set(L.TB);
    this.setReg(d, () => {
      switch (kind) {
        case K.MULH:
        case K.MULHSU:
        case K.MULHU:
          return this.mulHigh(kind);
        case K.DIV:
        case K.DIVU:
        case K.REM:
        case K.REMU:
          return this.divide64(kind === K.DIV || kind === K.REM, kind === K.REM || kind === K.REMU);
        case K.DIVW:
        case K.DIVUW:
        case K.REMW:
        case K.REMUW:
          return this.divide32(kind === K.DIVW || kind === K.REMW, kind === K.REMW || kind === K.REMUW);
      }
    });
  }

  /** Push the high 64 bits of TA * TB: MULH, MULHSU or MULHU. */
  private mulHigh(kind: K.MULH | K.MULHSU | K.MULHU): void {
    const c = this.c;
    const lo = (l: L): void => void c.get(l).i64(0xffffffff).op(Op.I64And);
    const hi = (l: L): void => void c.get(l).i64(32).op(Op.I64ShrU);
    // Unsigned: aH*bH + (aL*bH >> 32) + (aH*bL >> 32) + the carry out of the middle column.
    lo(L.TA);
    hi(L.TB);
    c.op(Op.I64Mul).set(L.ADDR); // aL*bH
    hi(L.TA);
    lo(L.TB);
    c.op(Op.I64Mul).set(L.V); // aH*bL
    lo(L.TA);
    lo(L.TB);
    c.op(Op.I64Mul).i64(32).op(Op.I64ShrU);
    lo(L.ADDR);
    c.op(Op.I64Add);
    lo(L.V);
    c.op(Op.I64Add).i64(32).op(Op.I64ShrU);
    hi(L.TA);
    hi(L.TB);
    c.op(Op.I64Mul).op(Op.I64Add);
    hi(L.ADDR);
    c.op(Op.I64Add);
    hi(L.V);
    c.op(Op.I64Add);
    // Signed operands: a negative a (MULH, MULHSU) subtracts b; a negative b (MULH) subtracts a.
    const fix = (neg: L, other: L): void =>
      void c.get(other).i64(0).get(neg).i64(0).op(Op.I64LtS).op(Op.Select).op(Op.I64Sub);
    if (kind !== K.MULHU) fix(L.TA, L.TB);
    if (kind === K.MULH) fix(L.TB, L.TA);
  }

  /** Push DIV, DIVU, REM or REMU (`signed`, `rem`) of TA by TB. */
  private divide64(signed: boolean, rem: boolean): void {
    const c = this.c;
    // The divisor made safe: 1 when it is zero or, signed, for the overflow MIN / -1 (which then
    // gives MIN, and REM 0, as the spec says).
    c.get(L.TA).i64(1).get(L.TB);
    c.get(L.TB).op(Op.I64Eqz);
    if (signed) {
      c.get(L.TA).i64(1).i64(63).op(Op.I64Shl).op(Op.I64Eq);
      c.get(L.TB).i64(-1).op(Op.I64Eq).op(Op.I32And).op(Op.I32Or);
    }
    c.op(Op.Select);
    c.op(rem ? (signed ? Op.I64RemS : Op.I64RemU) : signed ? Op.I64DivS : Op.I64DivU).set(L.V);
    // By zero: the quotient is all ones, the remainder the dividend.
    if (rem) c.get(L.TA);
    else c.i64(-1);
    c.get(L.V).get(L.TB).op(Op.I64Eqz).op(Op.Select);
  }

  /** Push DIVW, DIVUW, REMW or REMUW (`signed`, `rem`) of TA by TB's low words, sign-extended. */
  private divide32(signed: boolean, rem: boolean): void {
    const c = this.c;
    c.get(L.TA).op(Op.I32WrapI64).set(L.IDX);
    c.get(L.TB).op(Op.I32WrapI64).set(L.OFF);
    c.get(L.IDX).i32(1).get(L.OFF);
    c.get(L.OFF).op(Op.I32Eqz);
    if (signed) {
      c.get(L.IDX).i32(-0x80000000).op(Op.I32Eq);
      c.get(L.OFF).i32(-1).op(Op.I32Eq).op(Op.I32And).op(Op.I32Or);
    }
    c.op(Op.Select);
    c.op(rem ? (signed ? Op.I32RemS : Op.I32RemU) : signed ? Op.I32DivS : Op.I32DivU).set(L.IDX);
    if (rem) c.get(L.TA).op(Op.I32WrapI64);
    else c.i32(-1);
    c.get(L.IDX).get(L.OFF).op(Op.I32Eqz).op(Op.Select).op(Op.I64ExtendI32S);
  }

  /**
   * A block's last op `k` when it is CSRRS or CSRRC on sstatus (or an immediate form) that only
   * reads or only touches SIE: Linux's local_irq_save, local_irq_restore, local_irq_enable and
   * local_irq_disable, a few per page of a disk read, each a closure call before. Inline when the
   * hart is in S or M mode (sstatus is an S-level CSR, privileged spec 2.1) and a register
   * operand has no bit but SIE; otherwise the closure runs (it raises the illegal-instruction
   * trap, or writes other bits). Clearing SIE needs nothing more; setting it asks the run loop
   * to look for a pending interrupt (STOP_IRQ), which it takes at the block boundary, as after
   * the closure. Reads give SSTATUS_MASK's bits, UXL and SD (csr.ts). Returns false for any
   * other CSR or operand, having emitted nothing; true after emitting the exit.
   */
  sstatus([kind, d, a, , w1, w2]: Entry, k: number, n: number, next: number): boolean {
    const imm = kind === K.CSRRSI || kind === K.CSRRCI;
    const src = imm ? w2 : a >>> 1;
    if (w1 !== Csr.sstatus || k !== n - 1) return false;
    if (imm && src !== 0 && src !== MS_SIE) return false;
    const set = kind === K.CSRRS || kind === K.CSRRSI;
    const c = this.c;
    const byReg = !imm && src !== 0;
    const dirtyBefore = new Set(this.dirty);
    // The condition, with every operand touched before the if (see `touch`).
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.priv).i32(PRIV_S).op(Op.I32GeU);
    if (byReg) {
      this.reg(a);
      c.i64(~MS_SIE).op(Op.I64And).op(Op.I64Eqz).op(Op.I32And);
    }
    c.open(Op.If, Hint.Likely);
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.mstatus).set(L.OFF);
    if (src !== 0) {
      c.get(L.HB);
      if (byReg) {
        this.reg(a);
        c.op(Op.I32WrapI64);
      } else c.i32(MS_SIE);
      if (set) c.get(L.OFF).op(Op.I32Or);
      else c.i32(-1).op(Op.I32Xor).get(L.OFF).op(Op.I32And);
      c.tee(L.IDX).mem(Op.I32Store, 2, HartArea.mstatus);
      if (set) {
        // SIE went from 0 to 1: stop |= STOP_IRQ.
        c.get(L.IDX).get(L.OFF).i32(-1).op(Op.I32Xor).op(Op.I32And).i32(MS_SIE).op(Op.I32And).open(Op.If);
        c.get(L.HB)
          .get(L.HB)
          .mem(Op.I32Load, 2, HartArea.stop)
          .i32(STOP_IRQ)
          .op(Op.I32Or)
          .mem(Op.I32Store, 2, HartArea.stop);
        c.op(Op.End);
      }
    }
    // rd last: it may be the source register.
    if (d !== 64) {
      this.setReg(d, () => {
        c.get(L.OFF).i32(SSTATUS_MASK).op(Op.I32And).op(Op.I64ExtendI32U);
        c.i64(SSTATUS_HI_XL * 2 ** 32).op(Op.I64Or);
        c.get(L.OFF)
          .i32(MS_FS)
          .op(Op.I32And)
          .i32(MS_FS)
          .op(Op.I32Eq)
          .op(Op.I64ExtendI32U)
          .i64(63)
          .op(Op.I64Shl)
          .op(Op.I64Or);
      });
    }
    c.op(Op.Else);
    // The closure ends the block, leaving the pc in the slot (as a closure-ended block does).
    this.flush(false, dirtyBefore);
    this.service(S_CALL, k);
    this.retire(n);
    c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.next);
    c.get(L.DONE).op(Op.Return);
    c.op(Op.End);
    this.exitTo(next);
    this.retire(n);
    return true;
  }
}
