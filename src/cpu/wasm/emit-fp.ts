/**
 * The wasm tier's inline forms of the common F and D instructions (emit.ts's switch calls `fp`
 * for FLW, FLD, FSW, FSD and OP-FP): a double-precision program spent most of its host time
 * calling their closures (docs/benchmarks.md, "Floating point in the wasm tier").
 *
 * The semantics are the closures' (isa/ops-mem.ts fpLoad/fpStore, fpu/ops-*.ts), bit for bit:
 *   - every form checks mstatus.FS (Off: the closure runs and raises the illegal-instruction
 *     exception, privileged spec 3.1.6.6) and sets FS to Dirty where the closure does;
 *   - FADD/FSUB/FMUL/FDIV/FSQRT.D inline only with rm = RNE, or rm = DYN with frm = RNE at run
 *     time, and only where fpu/fast.ts's fast paths hold (the same operand and result windows):
 *     the result is wasm's IEEE double operation, NX comes from the same exact error terms
 *     (TwoSum, Dekker's TwoProduct); NaN, infinite, huge or tiny operands or results (which may
 *     raise NV, DZ, OF, UF or need a canonical NaN) run the closure;
 *   - FEQ/FLT/FLE.D inline when neither operand is a NaN (then no flag can be raised);
 *   - FMIN/FMAX.D likewise: wasm's f64.min and f64.max order -0 below +0 as RISC-V does;
 *   - FSGNJ*.D and FMV between x and f registers move bits (no flags, no canonicalization).
 *   - FMADD/FMSUB/FNMSUB/FNMADD.D as the arithmetic above (fast.ts fmaD).
 * Everything else (single precision arithmetic, conversions, FCLASS) calls its closure.
 *
 * Two things make the common case cheap (docs/benchmarks.md, "Floating point in the wasm tier,
 * second session"): once fflags.NX is set, FS Dirty and frm RNE (checked once per pass, the FAST
 * local), the arithmetic needs no inexactness test, only a test of the result for the other
 * flags; and the f registers live in the Emitter's register cache (fpair), in locals within a
 * pass and across the passes of a looping block, as the x registers do. What a pass has proven
 * about FS (on; Dirty) is known at compile time, so only its first FP op checks it. Where FAST is
 * 0 the arithmetic calls its careful function (careful-fp.ts), out of line: inline, those arms
 * were most of a region function's size (docs/benchmarks.md, "Floating point, sixth session").
 */
import { MS_FS } from "../isa/defs.js";
import { entryAt, K, type CompileInput, type Entry } from "../isa/kinds.js";
import { Hint, Op, T } from "./encoder.js";
import { ExtEmitter } from "./emit-ext.js";
import { Careful, carefulIndex, carefulType, emitCarefulInline } from "./careful-fp.js";
import { L, S_CALL, S_CAREFUL } from "./emitter.js";
import { F64X2_EXTRACT_LANE, F64X2_RELAXED_MADD, F64X2_SPLAT, HW_FMA, SIMD } from "./hw-fma.js";
import { HartArea, RAM_OFFSET } from "./layout.js";

/** fflags' inexact bit (unprivileged spec, "Floating-Point Control and Status Register"). */
const NX = 1;
/** OP-FP's funct5 values for the D forms handled here (unprivileged spec chapter 24's listing). */
const F_ADD = 0;
const F_SUB = 1;
const F_MUL = 2;
const F_DIV = 3;
const F_SGNJ = 4;
const F_MINMAX = 5;
const F_SQRT = 0x0b;
const F_CMP = 0x14;
const F_MV_X = 0x1c;
const F_MV_F = 0x1e;
const OP_FP = 0x53;
const FMT_D = 1;
const RNE = 0;
const DYN = 7;
/** High words of 2^-1022 (the least normal double) and of +infinity, and the magnitude mask of a
 *  high word (IEEE 754 binary64: sign, 11 exponent bits, the mantissa's top 20). */
const HI_MIN_NORMAL = 0x00100000;
const HI_INF = 0x7ff00000;
const HI_MAGNITUDE = 0x7fffffff;
/** The fused multiply-add opcodes (FMADD, FMSUB, FNMSUB, FNMADD: kind 0..3 by (opcode - 0x43) >> 2). */
const OP_FMADD = 0x43;
const OP_FNMADD = 0x4f;
/**
 * Scratch doubles in f64 locals (FpEmitter.localType), pseudo register pairs above the real ones
 * (0..64); RNE and FAST are i32 flags.
 */
const enum F {
  A = 200,
  B,
  R,
  C,
  /** This pass's frm = RNE (0/1), and "FS Dirty, frm RNE, NX already set" (i32 mode locals). */
  RNE,
  FAST,
}

/**
 * The register pair (the Emitter's register cache, which addresses pair p at HartArea.x + 4p) of
 * f register r: f[r] is at HartArea.f + 8r, so its pair is (HartArea.f - HartArea.x) / 4 + 2r,
 * clear of the x pairs (0..64) and of the scratch locals F (200 up). Held in f64 locals (the x
 * registers' are i64), across the passes of a looping block too: the values are doubles to every
 * inline form but the bit moves (FSGNJ, FMV, FLW, FSW), and an i64 local made V8 move each one
 * between a vector and a general register at every use, result and merge. f64 locals, loads and
 * stores keep every bit (WebAssembly spec 4.3.3: only arithmetic may change a NaN's payload).
 */
export const fpair = (r: number): number => FPAIRS + 2 * r;
const FPAIRS = (HartArea.f - HartArea.x) / 4;
/** Pseudo register pairs above this one hold the inline careful code's values (careful-fp.ts V). */
const CAREFUL_LOCALS = FPAIRS + 64;

/**
 * The TLB an F/D load or store of kind `kind` goes through (emit.ts cachedBases gives its base
 * register a page cache, as for integer accesses), or null for any other kind.
 */
export function fpAccessTlb(kind: number): L.RT | L.WT | null {
  return kind === K.FLW || kind === K.FLD ? L.RT : kind === K.FSW || kind === K.FSD ? L.WT : null;
}

/** The fields of an OP-FP word this file handles, or null (the closure runs it). */
interface FpOp {
  f5: number;
  rd: number;
  rm: number;
  rs1: number;
  rs2: number;
}
function opFp(inst: number): FpOp | null {
  if ((inst & 0x7f) !== OP_FP || ((inst >>> 25) & 3) !== FMT_D) return null;
  return {
    f5: inst >>> 27,
    rd: (inst >>> 7) & 31,
    rm: (inst >>> 12) & 7,
    rs1: (inst >>> 15) & 31,
    rs2: (inst >>> 20) & 31,
  };
}

/** Whether word `inst` is one of the forms inlined here with a careful arm (FpEmitter.arith, fma). */
function hasCarefulArm(inst: number): boolean {
  const rm = (inst >>> 12) & 7;
  if (rm !== RNE && rm !== DYN) return false;
  const opcode = inst & 0x7f;
  if (opcode >= OP_FMADD && opcode <= OP_FNMADD && (opcode & 3) === 3) return ((inst >>> 25) & 3) === FMT_D;
  const o = opFp(inst);
  return o !== null && (o.f5 <= F_DIV || (o.f5 === F_SQRT && o.rs2 === 0));
}

/**
 * A member with at most this many careful arms has them inline; one with more calls their
 * functions (careful-fp.ts). Measured (docs/benchmarks.md, "Floating point, seventh session"):
 * the bench's n-body loop (one block, 21 such ops) is where the size is, the loops a program whose
 * FP stays exact spends its time in (a matrix multiply's FMADD.D, a sum, a scale) have one to three.
 */
const CAREFUL_INLINE_MAX = 4;

/**
 * Whether block `b`'s code calls the careful functions (more than CAREFUL_INLINE_MAX careful
 * arms): tier.ts imports them only into modules that do, so a VM whose code never calls them
 * never builds their module (about 10 ms of CPU at its first use).
 */
export function callsCareful(b: CompileInput): boolean {
  let n = 0;
  for (let k = 0; k < b.count; k++) {
    const [kind, , , , w1] = entryAt(b.code, k);
    if (kind === K.FP && hasCarefulArm(w1) && ++n > CAREFUL_INLINE_MAX) return true;
  }
  return false;
}

/** The x registers (as pairs, 2*r) an OP-FP word inlined here writes and reads: for emit.ts heldRegs. */
export function fpIntRegs(inst: number): { d: number; a: number } {
  const o = opFp(inst);
  if (o === null) return { d: 0, a: 0 };
  if ((o.f5 === F_MV_X && o.rm === 0) || o.f5 === F_CMP) return { d: 2 * o.rd, a: 0 };
  if (o.f5 === F_MV_F) return { d: 0, a: 2 * o.rs1 };
  return { d: 0, a: 0 };
}

/**
 * Add the f registers (as fpair) that op entry `e` may read to `regs` and those it may write to
 * `written` too (emit.ts heldRegs); returns whether `e` is an F/D kind, whose d and b fields
 * then name f registers, not x registers. Every OP-FP and fused form counts its rd as written:
 * for the few whose rd is an x register that is only a needless load and store.
 */
export function fpHeld(e: Entry, regs: Set<number>, written: Set<number>): boolean {
  const [kind, d, , b, w1] = e;
  const add = (r: number, w: boolean): void => {
    regs.add(fpair(r));
    if (w) written.add(fpair(r));
  };
  switch (kind) {
    case K.FLW:
    case K.FLD:
      add(d / 2, true);
      return true;
    case K.FSW:
    case K.FSD:
      add(b / 2, false);
      return true;
    case K.FP:
      add((w1 >>> 7) & 31, true);
      add((w1 >>> 15) & 31, false);
      add((w1 >>> 20) & 31, false);
      add(w1 >>> 27, false);
      return true;
    default:
      return false;
  }
}

/** Emits the F and D forms above inline. */
export class FpEmitter extends ExtEmitter {
  /**
   * What the code emitted so far in this pass proves about the FP state (compile-time, reset at
   * each member's start, which is also the loop's head, and after every closure, which may write
   * mstatus, frm or fflags): FS not Off (an FP op ran without trapping: every form and its
   * closure trap when FS is Off), FS Dirty (a form that dirties it ran), and the RNE and FAST
   * locals computed. Only CSR writes (closures) clear FS, frm or fflags bits; FP ops only set them.
   */
  private fsOn = false;
  /**
   * This member's careful arms inline (careful-fp.ts emitCarefulInline) instead of calls to their
   * functions (carefulFor). A call spills and reloads the registers a loop holds around it, on
   * every pass of a program whose FP stays exact (an exact matrix multiply ran 14 % slower with
   * every arm a call); inline, the arms were most of a large member's size, which Liftoff and
   * TurboFan compile (docs/benchmarks.md, "Floating point, sixth session" and "seventh").
   */
  private carefulInline = true;

  /** Choose, at member `b`'s start (emit.ts), whether its careful arms are inline: CAREFUL_INLINE_MAX. */
  carefulFor(b: CompileInput): void {
    this.carefulInline = !callsCareful(b);
  }
  private fsDirty = false;
  private modeKnown = false;

  override member(id: number, off: number, exitDepth: number): void {
    super.member(id, off, exitDepth);
    this.fsOn = this.fsDirty = this.modeKnown = false;
  }
  override forget(): void {
    super.forget();
    this.fsOn = this.fsDirty = this.modeKnown = false;
    // After a closure (Emitter.call): it may have cleared fflags, changed frm or turned FS off.
    this.c.i32(0).set(this.local(F.FAST));
  }
  /** f registers and the scratch doubles in f64 locals, the mode flags in i32 ones. */
  protected override localType(p: number): T {
    if (p > CAREFUL_LOCALS) return carefulType(p - CAREFUL_LOCALS);
    if (p >= FPAIRS) return T.F64;
    if (p === F.RNE || p === F.FAST) return T.I32;
    return p >= F.A ? T.F64 : T.I64;
  }

  /**
   * Compute the RNE and FAST locals once per pass (at the top level, before an op's if). FAST:
   * FS is Dirty, frm is RNE and fflags.NX is set, so an op whose only possible flag is NX need not
   * find out whether it is inexact, set NX or dirty FS: all three are already so (NX is sticky;
   * QEMU's hardfloat path rests on the same fact). The state only grows within the pass.
   */
  private mode(): void {
    if (this.modeKnown) return;
    const c = this.c;
    // FAST once found stays so until a closure that may write fcsr or mstatus (forget zeroes it):
    // FP ops only set flags and dirty FS. So a looping block's later passes, and a region's later
    // members, skip the three loads. Locals start at zero on every entry to the function.
    c.get(this.local(F.FAST)).op(Op.I32Eqz).open(Op.If, Hint.Unlikely);
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.frm).op(Op.I32Eqz).set(this.local(F.RNE));
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.mstatus).i32(MS_FS).op(Op.I32And).i32(MS_FS).op(Op.I32Eq);
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.fflags).i32(NX).op(Op.I32And).op(Op.I32And);
    c.get(this.local(F.RNE)).op(Op.I32And).set(this.local(F.FAST));
    c.op(Op.End);
    this.modeKnown = true;
  }
  private fast(): void {
    this.c.get(this.local(F.FAST));
  }
  /**
   * Op `k`, entry `e` of kind FLW, FLD, FSW, FSD or FP: emit it inline and return true, or emit
   * nothing and return false (the caller calls its closure).
   */
  fp(e: Entry, k: number): boolean {
    const [kind, d, a, b, w1] = e;
    let dirties = true;
    switch (kind) {
      case K.FLW:
      case K.FLD:
        this.fpLoad(kind === K.FLD, d, a, w1, k);
        break;
      case K.FSW:
      case K.FSD:
        this.fpStore(kind === K.FSD, a, b, w1, k);
        dirties = false;
        break;
      case K.FP: {
        if (this.fma(w1, k)) break;
        const r = this.opFp(w1, k);
        if (r === null) return false;
        dirties = r;
        break;
      }
      default:
        return false;
    }
    // Past the op, on either arm, FS is on (else it trapped) and, where it dirties FS, Dirty.
    this.fsOn = true;
    if (dirties) this.fsDirty = true;
    return true;
  }

  /** Push the i32 1 when mstatus.FS is not Off (and, `dynRne`, frm is RNE), else 0. */
  private enabled(dynRne: boolean): void {
    const c = this.c;
    if (this.fsOn) c.i32(1);
    else c.get(L.HB).mem(Op.I32Load, 2, HartArea.mstatus).i32(MS_FS).op(Op.I32And).i32(0).op(Op.I32Ne);
    if (dynRne) {
      if (this.modeKnown) c.get(this.local(F.RNE));
      else c.get(L.HB).mem(Op.I32Load, 2, HartArea.frm).op(Op.I32Eqz);
      c.op(Op.I32And);
    }
  }

  /**
   * mstatus.FS = Dirty (Hart.markFsDirty), unless this pass has already made it so (fsDirty) or,
   * at run time, the FAST local says it is (FAST holds only while FS is Dirty: mode). A looping
   * block's first FP load used to rewrite mstatus on every pass. `guarded` false: the caller's
   * arm runs only where FAST is 0 (the careful arms), so the test would be dead.
   */
  private markDirty(guarded = true): void {
    if (this.fsDirty) return;
    const c = this.c;
    if (guarded) c.get(this.local(F.FAST)).op(Op.I32Eqz).open(Op.If, Hint.Unlikely);
    c.get(L.HB).get(L.HB).mem(Op.I32Load, 2, HartArea.mstatus).i32(MS_FS).op(Op.I32Or);
    c.mem(Op.I32Store, 2, HartArea.mstatus);
    if (guarded) c.op(Op.End);
  }

  /**
   * The other arm of an inline form's `if`: op `k`'s closure, with the registers dirty before
   * the op stored first; it writes register pair `xd` (x or f, fpair; if not 0), taken back after
   * it, so that the pair's local holds its value after the op on either arm.
   */
  private slow(k: number, dirtyBefore: ReadonlySet<number>, xd = 0): void {
    this.flush(false, dirtyBefore);
    this.service(S_CALL, k);
    if (xd !== 0 && xd !== 64) this.reload(xd);
  }

  /**
   * FLW/FLD (f register pair `d`) from rs1 + imm, a single NaN-boxed: through the base register's
   * page cache or the TLB (Emitter.access, as integer loads); a miss runs the closure, which also
   * raises the access's exception. FS is tested first (once a pass: fsOn), as the closure does.
   */
  private fpLoad(double: boolean, d: number, a: number, imm: number, k: number): void {
    const c = this.c;
    const fd = fpair(d / 2);
    this.touch(a);
    const dirtyBefore = new Set(this.dirty);
    this.whenFsOn(k, dirtyBefore, fd, () =>
      this.access(
        a,
        imm,
        double ? 8 : 4,
        L.RT,
        () => {
          this.setReg(fd, () => {
            if (double) c.mem(Op.F64Load, 3, RAM_OFFSET);
            else c.mem(Op.I64Load32U, 2, RAM_OFFSET).i64(-0x100000000).op(Op.I64Or).op(Op.F64ReinterpretI64); // NaN-boxed
          });
          this.markDirty();
        },
        () => this.slow(k, dirtyBefore, fd),
      ),
    );
    // Either arm leaves f[rd] in its local: the register is cached (and, as written, dirty).
    this.setReg(fd, () => void c.get(this.local(fd)));
  }

  /**
   * `body` (an F/D access), where FS is on; else the closure of op `k`, which raises the illegal
   * instruction exception (privileged spec 3.1.6.6: FS Off). Tested once a pass (fsOn): later
   * accesses of the pass emit `body` alone. `xd`: the register the closure writes, reloaded.
   */
  private whenFsOn(k: number, dirtyBefore: ReadonlySet<number>, xd: number, body: () => void): void {
    const c = this.c;
    const checked = !this.fsOn;
    if (checked) {
      this.enabled(false);
      c.open(Op.If, Hint.Likely);
    }
    body();
    if (checked) {
      c.op(Op.Else);
      this.slow(k, dirtyBefore, xd);
      c.op(Op.End);
    }
  }

  /** FSW/FSD of f register pair `b` to rs1 + imm, as fpLoad (FS unchanged, as the closure leaves it). */
  private fpStore(double: boolean, a: number, b: number, imm: number, k: number): void {
    const c = this.c;
    const fb = fpair(b / 2);
    this.touch(a);
    this.touch(fb);
    const dirtyBefore = new Set(this.dirty);
    this.whenFsOn(k, dirtyBefore, 0, () =>
      this.access(
        a,
        imm,
        double ? 8 : 4,
        L.WT,
        () => {
          this.reg(fb);
          if (double) c.mem(Op.F64Store, 3, RAM_OFFSET);
          else c.op(Op.I64ReinterpretF64).mem(Op.I64Store32, 2, RAM_OFFSET);
        },
        () => this.slow(k, dirtyBefore),
      ),
    );
  }

  private fget(l: F): void {
    this.c.get(this.local(l));
  }
  private fset(l: F): void {
    this.c.set(this.local(l));
  }
  /** Load f registers `rs` into their locals (at an op's top level, before its if: Emitter.touch). */
  private fsrc(...rs: number[]): void {
    for (const r of rs) this.touch(fpair(r));
  }
  /** Push f register r (fsrc'd) as an f64. */
  private freg(r: number): void {
    this.c.get(this.local(fpair(r)));
  }
  /** Push f register r (fsrc'd) as its bits, an i64. */
  private fbits(r: number): void {
    this.freg(r);
    this.c.op(Op.I64ReinterpretF64);
  }
  /** f[rd] = the f64 `value` pushes. */
  private fwrite(rd: number, value: () => void): void {
    this.setReg(fpair(rd), value);
  }

  /** Pushes (i32) whether neither f[rs1] nor f[rs2] is a NaN, ANDed into the i32 below it (x == x). */
  private neitherNaN(rs1: number, rs2: number): void {
    for (const r of [rs1, rs2]) {
      this.freg(r);
      this.freg(r);
      this.c.op(Op.F64Eq).op(Op.I32And);
    }
  }

  /**
   * OP-FP word `inst`, op `k`: null when not one of the forms inlined here, else whether it dirties
   * FS (as its closure does).
   */
  private opFp(inst: number, k: number): boolean | null {
    const o = opFp(inst);
    if (o === null) return null;
    const { f5, rd, rm, rs1, rs2 } = o;
    switch (f5) {
      case F_ADD:
      case F_SUB:
      case F_MUL:
      case F_DIV:
        if (rm !== RNE && rm !== DYN) return null;
        this.arith(f5, rd, rs1, rs2, rm === DYN, k);
        return true;
      case F_SQRT:
        if (rs2 !== 0 || (rm !== RNE && rm !== DYN)) return null;
        this.arith(f5, rd, rs1, rs1, rm === DYN, k);
        return true;
      case F_SGNJ:
        if (rm > 2) return null;
        this.sgnj(rm, rd, rs1, rs2, k);
        return true;
      case F_CMP:
        if (rm > 2) return null;
        this.compare(rm, rd, rs1, rs2, k);
        return false;
      case F_MINMAX:
        if (rm > 1) return null;
        this.minMax(rm === 1, rd, rs1, rs2, k);
        return true;
      case F_MV_X:
        if (rs2 !== 0 || rm !== 0) return null;
        this.moves(true, rd, rs1, k);
        return false;
      case F_MV_F:
        if (rs2 !== 0 || rm !== 0) return null;
        this.moves(false, rd, rs1, k);
        return true;
      default:
        return null;
    }
  }

  /** FSGNJ.D, FSGNJN.D, FSGNJX.D (`op` 0, 1, 2) on the raw bits, as ops-misc.ts sgnjD. */
  private sgnj(op: number, rd: number, rs1: number, rs2: number, k: number): void {
    const c = this.c;
    this.fsrc(rs1, rs2);
    const dirtyBefore = new Set(this.dirty);
    const raw = (r: number): void => this.fbits(r);
    this.enabled(false);
    c.open(Op.If, Hint.Likely);
    this.setReg(fpair(rd), () => {
      raw(rs1);
      c.i64(-1).i64(1).op(Op.I64ShrU).op(Op.I64And); // the magnitude
      if (op === 2) raw(rs1);
      raw(rs2);
      if (op === 1) c.i64(-1).op(Op.I64Xor);
      if (op === 2) c.op(Op.I64Xor);
      c.i64(63).op(Op.I64ShrU).i64(63).op(Op.I64Shl).op(Op.I64Or); // the sign bit alone
      c.op(Op.F64ReinterpretI64);
    });
    this.markDirty();
    c.op(Op.Else);
    this.slow(k, dirtyBefore, fpair(rd));
    c.op(Op.End);
  }

  /** FMV.X.D (`toX`) or FMV.D.X: the 64 bits unchanged; only FMV.D.X dirties FS (ops-misc.ts). */
  private moves(toX: boolean, rd: number, rs1: number, k: number): void {
    const c = this.c;
    const xd = rd === 0 ? 64 : 2 * rd;
    if (toX) this.fsrc(rs1);
    else this.touch(2 * rs1);
    const dirtyBefore = new Set(this.dirty);
    this.enabled(false);
    c.open(Op.If, Hint.Likely);
    if (toX) this.setReg(xd, () => this.fbits(rs1));
    else {
      this.setReg(fpair(rd), () => {
        this.reg(2 * rs1);
        c.op(Op.F64ReinterpretI64);
      });
      this.markDirty();
    }
    c.op(Op.Else);
    this.slow(k, dirtyBefore, toX ? xd : fpair(rd));
    c.op(Op.End);
  }

  /** FLE.D, FLT.D, FEQ.D (`op` 0, 1, 2) when neither operand is a NaN (no flag, FS unchanged). */
  private compare(op: number, rd: number, rs1: number, rs2: number, k: number): void {
    const c = this.c;
    const xd = rd === 0 ? 64 : 2 * rd;
    this.unlessNaN(rs1, rs2, k, xd, () =>
      this.setReg(xd, () => {
        this.freg(rs1);
        this.freg(rs2);
        c.op(op === 0 ? Op.F64Le : op === 1 ? Op.F64Lt : Op.F64Eq).op(Op.I64ExtendI32U);
      }),
    );
  }

  /**
   * `fast` inline when neither f[rs1] nor f[rs2] is a NaN (no flag can be raised), else op `k`'s
   * closure, whose result lands in register pair `dest`.
   */
  private unlessNaN(rs1: number, rs2: number, k: number, dest: number, fast: () => void): void {
    const c = this.c;
    this.fsrc(rs1, rs2);
    const dirtyBefore = new Set(this.dirty);
    this.enabled(false);
    this.neitherNaN(rs1, rs2);
    c.open(Op.If, Hint.Likely);
    fast();
    c.op(Op.Else);
    this.slow(k, dirtyBefore, dest);
    c.op(Op.End);
  }

  /**
   * FMIN.D/FMAX.D (`isMax`) when neither operand is a NaN: no flag; the result is one operand's
   * bits (equal non-zero values have equal bits), -0 below +0 (unprivileged spec, FMIN/FMAX;
   * WebAssembly's fmin/fmax on zeros), FS Dirty as ops-misc.ts minMaxD.
   */
  private minMax(isMax: boolean, rd: number, rs1: number, rs2: number, k: number): void {
    const c = this.c;
    this.unlessNaN(rs1, rs2, k, fpair(rd), () => {
      this.fwrite(rd, () => {
        this.freg(rs1);
        this.freg(rs2);
        c.op(isMax ? Op.F64Max : Op.F64Min);
      });
      this.markDirty();
    });
  }

  /**
   * Push i32: R is normal and finite, 2^-1022 < |R| < inf (no overflow; not tiny, since tininess
   * is detected after rounding and a result of exactly 2^-1022 may have been tiny before it; not
   * NaN), tested on the high word of R's bits alone: its magnitude h = hi & 0x7fffffff in
   * [0x00100001, 0x7ff00000). That keeps a subset of the full test's values (it also sends the
   * normal results below 2^-1022 * (1 + 2^-20) to the closure, which is exact for them too) with
   * 32-bit immediates: the 64-bit test's three 64-bit constants took three of the loop's general
   * registers or a load each from the code's constant pool.
   */
  private isNormal(): void {
    const c = this.c;
    this.fget(F.R);
    c.op(Op.I64ReinterpretF64).i64(32).op(Op.I64ShrU).op(Op.I32WrapI64);
    c.i32(HI_MAGNITUDE).op(Op.I32And);
    c.i32(HI_MIN_NORMAL + 1).op(Op.I32Sub);
    c.i32(HI_INF - HI_MIN_NORMAL - 1).op(Op.I32LtU);
  }

  /**
   * The FAST arm's end (FS Dirty, frm RNE, NX set: an op whose only flag would be NX changes
   * nothing but rd): f[rd] = R where `keep` (an i32) holds, else, off the hot path, where
   * `exactZero` (if given: R is a zero the operation gives exactly, raising no flag) holds; else
   * the closure of op `k`. No OFF or IDX local and no flag or FS write on the hot path (V8 kept
   * OFF and IDX in stack slots across the op's merges).
   */
  private fastKeep(
    rd: number,
    k: number,
    dirtyBefore: ReadonlySet<number>,
    keep: () => void,
    exactZero?: () => void,
  ): void {
    const c = this.c;
    keep();
    c.open(Op.If, Hint.Likely);
    this.setReg(fpair(rd), () => this.fget(F.R));
    c.op(Op.Else);
    if (exactZero) {
      exactZero();
      c.open(Op.If);
      this.setReg(fpair(rd), () => this.fget(F.R));
      c.op(Op.Else);
    }
    this.slow(k, dirtyBefore, fpair(rd));
    if (exactZero) c.op(Op.End);
    c.op(Op.End);
  }

  /**
   * FADD/FSUB/FMUL/FDIV/FSQRT.D (`f5`) in round-to-nearest-even: fpu/fast.ts addD, mulD, divD
   * and sqrtD in wasm. OFF gets "the fast path holds", IDX "inexact".
   */
  private arith(f5: number, rd: number, rs1: number, rs2: number, dyn: boolean, k: number): void {
    const c = this.c;
    this.fsrc(rs1, rs2);
    const dirtyBefore = new Set(this.dirty);
    this.mode();
    const rAbs = (): void => {
      this.fget(F.R);
      c.op(Op.F64Abs);
    };
    const isZero = (l: F): void => {
      this.fget(l);
      c.f64(0).op(Op.F64Eq);
    };
    // A, B and R: wasm's IEEE operation in round-to-nearest-even, RISC-V's value wherever it is
    // not NaN.
    const value = (): void => {
      this.freg(rs1);
      this.fset(F.A);
      this.freg(rs2);
      if (f5 === F_SUB) c.op(Op.F64Neg); // a - b is a + (-b) exactly, as subD does
      this.fset(F.B);
      this.fget(F.A);
      if (f5 === F_SQRT) c.op(Op.F64Sqrt);
      else {
        this.fget(F.B);
        c.op(f5 === F_MUL ? Op.F64Mul : f5 === F_DIV ? Op.F64Div : Op.F64Add);
      }
      this.fset(F.R);
    };
    // FAST (FS Dirty, frm RNE, NX set; so FS is on and DYN is RNE): only which results may raise
    // a flag besides NX matters, found from the result alone: a sum is exact when subnormal and
    // overflows to infinity; a product or quotient is tiny only below the normal range (tininess
    // after rounding: a result of exactly 2^-1022 may be tiny, so it is excluded), or exactly zero
    // from a zero operand; a square root raises NV exactly when it is NaN.
    this.fast();
    c.open(Op.If, Hint.Likely);
    value();
    switch (f5) {
      case F_ADD:
      case F_SUB:
        this.fastKeep(rd, k, dirtyBefore, () => {
          rAbs();
          c.f64(Infinity).op(Op.F64Lt);
        });
        break;
      case F_MUL:
        this.fastKeep(
          rd,
          k,
          dirtyBefore,
          () => this.isNormal(),
          () => {
            rAbs();
            c.f64(Infinity).op(Op.F64Lt);
            isZero(F.A);
            isZero(F.B);
            c.op(Op.I32Or).op(Op.I32And);
          },
        );
        break;
      case F_DIV:
        this.fastKeep(
          rd,
          k,
          dirtyBefore,
          () => this.isNormal(),
          () => {
            isZero(F.R);
            isZero(F.A);
            c.op(Op.I32And);
          },
        );
        break;
      default:
        this.fastKeep(rd, k, dirtyBefore, () => {
          this.fget(F.R);
          this.fget(F.R);
          c.op(Op.F64Eq);
        });
    }
    c.op(Op.Else);
    // Otherwise the careful function (careful-fp.ts): FS and frm as the op needs them, fpu/fast.ts's
    // windows, NX from the exact error terms; a NaN from it says the closure.
    this.careful(
      f5 === F_MUL ? Careful.MUL : f5 === F_DIV ? Careful.DIV : f5 === F_SQRT ? Careful.SQRT : Careful.ADD,
      dyn,
      () => {
        this.freg(rs1);
        this.freg(rs2);
        if (f5 === F_SUB) c.op(Op.F64Neg); // a - b is a + (-b) exactly, as subD does
        c.f64(0);
      },
    );
    this.carefulResult(rd, k, dirtyBefore);
    c.op(Op.End);
  }

  /**
   * Operation `op`'s careful code on the operands `args` pushes (three doubles): R. A call to its
   * function (careful-fp.ts), or the same code inline where `carefulInline` says so.
   */
  private careful(op: Careful, dyn: boolean, args: () => void): void {
    const c = this.c;
    if (this.carefulInline) {
      args();
      const enabled = (): void => this.enabled(dyn);
      emitCarefulInline(c, op, L.HB, (v) => this.local(CAREFUL_LOCALS + v), enabled, this.fsDirty);
    } else {
      c.get(L.HB);
      args();
      c.call(S_CAREFUL + carefulIndex(op, dyn));
    }
    this.fset(F.R);
  }

  /** f[rd] = R unless R is a NaN (the careful function's "closure"), else op `k`'s closure. */
  private carefulResult(rd: number, k: number, dirtyBefore: ReadonlySet<number>): void {
    const c = this.c;
    this.fget(F.R);
    this.fget(F.R);
    c.op(Op.F64Eq).open(Op.If, Hint.Likely);
    this.setReg(fpair(rd), () => this.fget(F.R));
    c.op(Op.Else);
    this.slow(k, dirtyBefore, fpair(rd));
    c.op(Op.End);
  }

  /**
   * FMADD.D, FMSUB.D, FNMSUB.D, FNMADD.D in round-to-nearest-even: fpu/fast.ts fmaD in wasm (Boldo
   * and Melquiond's emulation with rounding to odd), with its operand windows and its exactness
   * test from the error terms; a result of magnitude at most 2^-1022 runs the closure. False for
   * another word or rounding mode.
   */
  private fma(inst: number, k: number): boolean {
    const opcode = inst & 0x7f;
    if (opcode < OP_FMADD || opcode > OP_FNMADD || (opcode & 3) !== 3 || ((inst >>> 25) & 3) !== FMT_D) return false;
    const rm = (inst >>> 12) & 7;
    if (rm !== RNE && rm !== DYN) return false;
    const kind = (opcode - OP_FMADD) >> 2; // 0 FMADD, 1 FMSUB, 2 FNMSUB, 3 FNMADD
    const rd = (inst >>> 7) & 31;
    const rs1 = (inst >>> 15) & 31;
    const rs2 = (inst >>> 20) & 31;
    const rs3 = inst >>> 27;
    const c = this.c;
    this.fsrc(rs1, rs2, rs3);
    const dirtyBefore = new Set(this.dirty);
    this.mode();
    const operands = (): void => {
      this.freg(rs1);
      if (kind >= 2) c.op(Op.F64Neg);
      this.fset(F.A);
      this.freg(rs2);
      this.fset(F.B);
      this.freg(rs3);
      if (kind === 1 || kind === 3) c.op(Op.F64Neg);
      this.fset(F.C);
    };
    if (HW_FMA) {
      // FAST (so FS on and DYN is RNE): the host's one-rounding multiply-add (hw-fma.ts) gives
      // the value; only NX may be raised (already set) where the result is normal, or an exact
      // zero from a zero product and a zero addend (IEEE 754's sign, as RISC-V's); other results
      // take the closure.
      this.fast();
      c.open(Op.If, Hint.Likely);
      operands();
      for (const l of [F.A, F.B, F.C]) {
        this.fget(l);
        c.op(SIMD, F64X2_SPLAT);
      }
      c.op(SIMD, ...F64X2_RELAXED_MADD).op(SIMD, F64X2_EXTRACT_LANE, 0);
      this.fset(F.R);
      this.fastKeep(
        rd,
        k,
        dirtyBefore,
        () => this.isNormal(),
        () => {
          this.fget(F.R);
          c.f64(0).op(Op.F64Eq);
          this.fget(F.A);
          c.f64(0).op(Op.F64Eq);
          this.fget(F.B);
          c.f64(0).op(Op.F64Eq).op(Op.I32Or).op(Op.I32And);
          this.fget(F.C);
          c.f64(0).op(Op.F64Eq).op(Op.I32And);
        },
      );
      c.op(Op.Else);
    }
    // Otherwise the careful function (careful-fp.ts), which needs FS on and, DYN, frm RNE.
    this.careful(Careful.FMA, rm === DYN, () => {
      this.freg(rs1);
      if (kind >= 2) c.op(Op.F64Neg);
      this.freg(rs2);
      this.freg(rs3);
      if (kind === 1 || kind === 3) c.op(Op.F64Neg);
    });
    this.carefulResult(rd, k, dirtyBefore);
    if (HW_FMA) c.op(Op.End);
    return true;
  }
}
