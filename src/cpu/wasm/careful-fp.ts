/**
 * The careful arms of the wasm tier's inline D arithmetic (emit-fp.ts), out of line: one small
 * wasm function per operation and rounding-mode form, in a module of their own that every block
 * module imports (emitter.ts SERVICES). Block code runs them only where its FAST local is 0 (NX
 * not yet set, FS not Dirty or frm not RNE); inline they were most of a region function's size,
 * so V8's Liftoff and TurboFan compiled far more code than the loops run (docs/benchmarks.md,
 * "Floating point, fifth session": the same arms as closure calls cut the bench program's main
 * thread by 9 %, but a program whose FP stays exact would then run every op as a JS closure). A
 * wasm-to-wasm import call passes the operands in registers and touches no guest register, so
 * the caller needs no flush of its register cache around it.
 *
 * Each function takes the hart area's offset and the operands (a, b, c as doubles: the caller
 * has negated those FSUB and the fused forms negate) and returns the result, having set
 * fflags.NX when it is inexact and mstatus.FS to Dirty; or a NaN, having written nothing, where
 * fpu/fast.ts's windows do not hold (the caller then runs the op's closure). A result inside the
 * windows is never a NaN (finite operands, no invalid operation), so a NaN says "closure" only.
 * The semantics are fpu/fast.ts addD, mulD, divD, sqrtD and fmaD, as the inline arms were.
 */
import { MS_FS } from "../isa/defs.js";
import { Code, encodeModule, Hint, Op, T, type FuncType } from "./encoder.js";
import { HartArea } from "./layout.js";

/** fflags' inexact bit (unprivileged spec, "Floating-Point Control and Status Register"). */
const NX = 1;
/** fast.ts's constants: Veltkamp's splitter and the windows where its error terms are exact. */
const SPLIT = 134217729;
const TWO_M480 = 2 ** -480;
const TWO_P480 = 2 ** 480;
const TWO_P1000 = 2 ** 1000;
const MIN_NORMAL_D = 2 ** -1022;

/** The operations, in the order of their functions (each twice: rm = RNE, then rm = DYN). */
export const enum Careful {
  ADD,
  MUL,
  DIV,
  SQRT,
  FMA,
}
const OPS = [Careful.ADD, Careful.MUL, Careful.DIV, Careful.SQRT, Careful.FMA];
const CAREFUL_TYPE: FuncType = { params: [T.I32, T.F64, T.F64, T.F64], results: [T.F64] };
const name = (op: Careful, dyn: boolean): string => `c${op}${dyn ? "d" : "r"}`;

/** The careful functions as block modules import them (after the services). */
export const CAREFUL_IMPORTS = OPS.flatMap((op) =>
  [false, true].map((dyn) => ({ name: name(op, dyn), type: CAREFUL_TYPE })),
);
/** Whether block module `m` imports the careful functions (tier.ts: only where its code calls them). */
export const importsCareful = (m: WebAssembly.Module): boolean =>
  WebAssembly.Module.imports(m).some((i) => i.name === CAREFUL_IMPORTS[0]!.name);
/** Index of operation `op`'s function among CAREFUL_IMPORTS. */
export const carefulIndex = (op: Careful, dyn: boolean): number => 2 * op + (dyn ? 1 : 0);

/** Locals: the four parameters, then the scratch doubles, then i32 flags. */
const enum V {
  HB,
  A,
  B,
  C,
  R,
  T,
  AH,
  AL,
  BH,
  BL,
  UL,
  TL,
  S,
  E,
  W3,
  E3,
  D,
  W,
  X1,
  X2,
  OFF,
  IDX,
  PZ,
}
const LOCALS = [...Array<T>(V.OFF - V.R).fill(T.F64), T.I32, T.I32, T.I32];

/**
 * The body of one careful function, or the same code inline in a block function (emit-fp.ts, in
 * a member with few careful arms: carefulFor): there `loc` maps V to the block function's locals, and the code
 * is a `block (result f64)` that a NaN leaves by `br` where the function form returns it.
 */
class Gen {
  constructor(
    readonly c: Code,
    private readonly loc: (v: V) => number = (v) => v,
    private readonly inline = false,
  ) {}
  private get(l: V): void {
    this.c.get(this.loc(l));
  }
  private set(l: V): void {
    this.c.set(this.loc(l));
  }

  /** Give back a NaN (the caller runs the closure) unless the i32 on the stack is non-zero. */
  private orClosure(): void {
    // Inline: the `if` is depth 0, the body's `block (result f64)` depth 1 (only called at its top level).
    this.c.op(Op.I32Eqz).open(Op.If, Hint.Unlikely).f64(NaN);
    if (this.inline) this.c.br(Op.Br, 1);
    else this.c.op(Op.Return);
    this.c.op(Op.End);
  }

  /** Push i32: |l| in [2^-480, 2^480] or l is zero (fast.ts inWindow; false for NaN). */
  private inWindow(l: V): void {
    const c = this.c;
    this.get(l);
    c.op(Op.F64Abs).f64(TWO_M480).op(Op.F64Ge);
    this.get(l);
    c.op(Op.F64Abs).f64(TWO_P480).op(Op.F64Le).op(Op.I32And);
    this.get(l);
    c.f64(0).op(Op.F64Eq).op(Op.I32Or);
  }

  /** hi/lo halves of `v` by Veltkamp's split (fast.ts productError). Uses T. */
  private split(v: V, hi: V, lo: V): void {
    const c = this.c;
    c.f64(SPLIT);
    this.get(v);
    c.op(Op.F64Mul);
    this.set(V.T);
    this.get(V.T);
    this.get(V.T);
    this.get(v);
    c.op(Op.F64Sub).op(Op.F64Sub);
    this.set(hi);
    this.get(v);
    this.get(hi);
    c.op(Op.F64Sub);
    this.set(lo);
  }

  /** Push the f64 exact error a*b - p (Dekker, fast.ts productError, evaluated in its order). */
  private productError(a: V, b: V, p: () => void): void {
    const c = this.c;
    this.split(a, V.AH, V.AL);
    this.split(b, V.BH, V.BL);
    const mul = (x: V, y: V): void => {
      this.get(x);
      this.get(y);
      c.op(Op.F64Mul);
    };
    mul(V.AH, V.BH);
    p();
    c.op(Op.F64Sub);
    mul(V.AH, V.BL);
    c.op(Op.F64Add);
    mul(V.AL, V.BH);
    c.op(Op.F64Add);
    mul(V.AL, V.BL);
    c.op(Op.F64Add);
  }

  /** Push i32: the exact error a*b - p is non-zero. */
  private productInexact(a: V, b: V, p: () => void): void {
    this.productError(a, b, p);
    this.c.f64(0).op(Op.F64Ne);
  }

  /** Push the f64 exact error a+b - s of s = RN(a+b) (fast.ts sumError, in its order). Uses X1, X2. */
  private sumError(a: () => void, b: () => void, s: V): void {
    const c = this.c;
    this.get(s);
    a();
    c.op(Op.F64Sub);
    this.set(V.X1); // bv
    this.get(s);
    this.get(V.X1);
    c.op(Op.F64Sub);
    this.set(V.X2); // av
    a();
    this.get(V.X2);
    c.op(Op.F64Sub);
    b();
    this.get(V.X1);
    c.op(Op.F64Sub).op(Op.F64Add);
  }

  /**
   * The function's start: FS not Off (privileged spec 3.1.6.6: the closure traps) and, `dyn`,
   * frm RNE (the closure rounds otherwise); else the closure.
   */
  enabled(dyn: boolean): void {
    const c = this.c;
    const hb = this.loc(V.HB);
    c.get(hb).mem(Op.I32Load, 2, HartArea.mstatus).i32(MS_FS).op(Op.I32And).i32(0).op(Op.I32Ne);
    if (dyn) c.get(hb).mem(Op.I32Load, 2, HartArea.frm).op(Op.I32Eqz).op(Op.I32And);
    this.orClosure();
  }

  /**
   * Operation `op`'s whole body: the test of FS (and frm: `enabled`, or the caller's test that
   * pushes it as an i32), the arithmetic, the flags (FS Dirty too unless `fsDirty`).
   */
  body(op: Careful, enabled: boolean | (() => void), fsDirty = false): void {
    if (typeof enabled === "boolean") this.enabled(enabled);
    else {
      enabled();
      this.orClosure();
    }
    if (op === Careful.FMA) this.fma();
    else this.arith(op);
    this.finish(fsDirty);
  }

  /** The end where the windows held (OFF): fflags |= NX if IDX, FS Dirty (unless already), give R. */
  private finish(fsDirty: boolean): void {
    const c = this.c;
    const hb = this.loc(V.HB);
    this.get(V.OFF);
    this.orClosure();
    this.get(V.IDX);
    c.open(Op.If);
    c.get(hb).get(hb).mem(Op.I32Load, 2, HartArea.fflags).i32(NX).op(Op.I32Or);
    c.mem(Op.I32Store, 2, HartArea.fflags);
    c.op(Op.End);
    if (!fsDirty) {
      c.get(hb).get(hb).mem(Op.I32Load, 2, HartArea.mstatus).i32(MS_FS).op(Op.I32Or);
      c.mem(Op.I32Store, 2, HartArea.mstatus);
    }
    this.get(V.R);
  }

  /** FADD (FSUB with b negated), FMUL, FDIV, FSQRT.D: R, OFF ("the fast path holds"), IDX ("inexact"). */
  arith(op: Careful): void {
    const c = this.c;
    this.get(V.A);
    if (op === Careful.SQRT) c.op(Op.F64Sqrt);
    else {
      this.get(V.B);
      c.op(op === Careful.MUL ? Op.F64Mul : op === Careful.DIV ? Op.F64Div : Op.F64Add);
    }
    this.set(V.R);
    switch (op) {
      case Careful.ADD:
        // s = a + b; usable while |s| < 2^1000 (no overflow, exact TwoSum); NX: its error != 0.
        this.get(V.R);
        c.op(Op.F64Abs).f64(TWO_P1000).op(Op.F64Lt).set(this.loc(V.OFF));
        // bv = s - a (T); av = s - bv (AH); err = (a - av) + (b - bv).
        this.get(V.R);
        this.get(V.A);
        c.op(Op.F64Sub);
        this.set(V.T);
        this.get(V.R);
        this.get(V.T);
        c.op(Op.F64Sub);
        this.set(V.AH);
        this.get(V.A);
        this.get(V.AH);
        c.op(Op.F64Sub);
        this.get(V.B);
        this.get(V.T);
        c.op(Op.F64Sub).op(Op.F64Add).f64(0).op(Op.F64Ne).set(this.loc(V.IDX));
        break;
      case Careful.MUL:
        this.inWindow(V.A);
        this.inWindow(V.B);
        c.op(Op.I32And).set(this.loc(V.OFF));
        this.get(V.R);
        c.f64(0).op(Op.F64Ne);
        this.productInexact(V.A, V.B, () => this.get(V.R));
        c.op(Op.I32And).set(this.loc(V.IDX));
        break;
      case Careful.DIV:
        this.get(V.B);
        c.f64(0).op(Op.F64Ne);
        this.inWindow(V.A);
        c.op(Op.I32And);
        this.inWindow(V.B);
        c.op(Op.I32And).set(this.loc(V.OFF));
        // Inexact unless q*b reproduces a exactly: q != 0 && (q*b != a || error(q, b) != 0).
        this.get(V.R);
        c.f64(0).op(Op.F64Ne);
        this.get(V.R);
        this.get(V.B);
        c.op(Op.F64Mul);
        this.get(V.A);
        c.op(Op.F64Ne);
        this.productInexact(V.R, V.B, () => {
          this.get(V.R);
          this.get(V.B);
          c.op(Op.F64Mul);
        });
        c.op(Op.I32Or).op(Op.I32And).set(this.loc(V.IDX));
        break;
      default: {
        // FSQRT.D: ±0 gives itself exactly; otherwise a in [2^-960, 2^1000] (not NaN, not negative).
        this.get(V.A);
        c.f64(0).op(Op.F64Eq);
        this.get(V.A);
        c.f64(TWO_M480 * TWO_M480).op(Op.F64Ge);
        this.get(V.A);
        c.f64(TWO_P1000).op(Op.F64Le).op(Op.I32And).op(Op.I32Or).set(this.loc(V.OFF));
        this.get(V.R);
        this.get(V.R);
        c.op(Op.F64Mul);
        this.get(V.A);
        c.op(Op.F64Ne);
        this.productInexact(V.R, V.R, () => {
          this.get(V.R);
          this.get(V.R);
          c.op(Op.F64Mul);
        });
        c.op(Op.I32Or).set(this.loc(V.IDX));
      }
    }
  }

  /**
   * a*b + c (the caller negated a and c for FMSUB, FNMSUB, FNMADD) in round-to-nearest-even:
   * fpu/fast.ts fmaD (Boldo and Melquiond's emulation with rounding to odd), with its operand
   * windows and its exactness test from the error terms; a result of magnitude at most 2^-1022
   * takes the closure.
   */
  fma(): void {
    const c = this.c;
    const g = (l: V) => (): void => this.get(l);
    this.inWindow(V.A);
    this.inWindow(V.B);
    c.op(Op.I32And);
    this.inWindow(V.C);
    c.op(Op.I32And).set(this.loc(V.OFF));
    // uh = a*b (R); ul = uh == 0 ? 0 : error(a, b, uh).
    this.get(V.A);
    this.get(V.B);
    c.op(Op.F64Mul);
    this.set(V.R);
    this.productError(V.A, V.B, g(V.R));
    c.f64(0);
    this.get(V.R);
    c.f64(0).op(Op.F64Ne).op(Op.Select);
    this.set(V.UL);
    // th = c + uh (D); tl = its error.
    this.get(V.C);
    this.get(V.R);
    c.op(Op.F64Add);
    this.set(V.D);
    this.sumError(g(V.C), g(V.R), V.D);
    this.set(V.TL);
    // s = tl + ul; e = its error.
    this.get(V.TL);
    this.get(V.UL);
    c.op(Op.F64Add);
    this.set(V.S);
    this.sumError(g(V.TL), g(V.UL), V.S);
    this.set(V.E);
    // v = RO(tl + ul): s, or when e != 0 and s is even, its neighbour toward e (bits +1 away from
    // zero when e and s have one sign, -1 toward zero otherwise; s != 0 there).
    this.get(V.S);
    c.op(Op.I64ReinterpretF64);
    c.i64(1).i64(-1);
    this.get(V.E);
    c.f64(0).op(Op.F64Gt);
    this.get(V.S);
    c.f64(0).op(Op.F64Gt).op(Op.I32Eq).op(Op.Select).op(Op.I64Add);
    this.get(V.S);
    c.op(Op.I64ReinterpretF64);
    this.get(V.E);
    c.f64(0).op(Op.F64Ne);
    this.get(V.S);
    c.op(Op.I64ReinterpretF64).op(Op.I32WrapI64).i32(1).op(Op.I32And).op(Op.I32Eqz).op(Op.I32And);
    c.op(Op.Select).op(Op.F64ReinterpretI64).set(this.loc(V.W3));
    // z = th + v (R); usable when |z| > 2^-1022. A zero product (a or b is zero: the windows
    // leave no tiny non-zero operand) gives uh + c instead, exactly and without a flag, a zero
    // sum's sign by IEEE 754's rule as RISC-V's.
    this.get(V.R);
    c.f64(0).op(Op.F64Eq).set(this.loc(V.PZ));
    this.get(V.R);
    this.get(V.C);
    c.op(Op.F64Add);
    this.get(V.D);
    this.get(V.W3);
    c.op(Op.F64Add);
    this.c.get(this.loc(V.PZ)).op(Op.Select);
    this.set(V.R);
    this.get(V.R);
    c.op(Op.F64Abs).f64(MIN_NORMAL_D).op(Op.F64Gt);
    this.c.get(this.loc(V.PZ)).op(Op.I32Or).get(this.loc(V.OFF)).op(Op.I32And).set(this.loc(V.OFF));
    // Whether z is exact: not needed once NX is set (the windows leave no other flag).
    c.i32(0).set(this.loc(V.IDX));
    this.c.get(this.loc(V.HB)).mem(Op.I32Load, 2, HartArea.fflags).i32(NX).op(Op.I32And).op(Op.I32Eqz).open(Op.If);
    this.sumError(g(V.D), g(V.W3), V.R);
    this.set(V.E3);
    // Exact: e == 0 ? e3 == 0 : (with d = v - s, w = d - e) error(d, -e, w) == 0 && e3 == w.
    this.get(V.E3);
    c.f64(0).op(Op.F64Eq);
    this.get(V.W3);
    this.get(V.S);
    c.op(Op.F64Sub);
    this.set(V.D);
    this.get(V.D);
    this.get(V.E);
    c.op(Op.F64Sub);
    this.set(V.W);
    this.sumError(g(V.D), () => void (this.get(V.E), c.op(Op.F64Neg)), V.W);
    c.f64(0).op(Op.F64Eq);
    this.get(V.E3);
    this.get(V.W);
    c.op(Op.F64Eq).op(Op.I32And);
    this.get(V.E);
    c.f64(0).op(Op.F64Eq).op(Op.Select);
    c.op(Op.I32Eqz);
    this.c.get(this.loc(V.PZ)).op(Op.I32Eqz).op(Op.I32And).set(this.loc(V.IDX));
    c.op(Op.End);
  }
}

/** The careful code's values (V) besides the hart area's offset: parameters, scratch, flags. */
export const CAREFUL_VALUES = V.PZ;
/** The wasm type of careful value `v` (1 .. CAREFUL_VALUES). */
export const carefulType = (v: number): T => (v >= V.OFF ? T.I32 : T.F64);

/**
 * Operation `op`'s careful code inline in a block function's code `c`, on the operands a, b, c
 * that the caller pushed (three doubles, negated as for the function form): it leaves the result
 * on the stack, or a NaN (the caller runs the closure), with the flags and FS as the function sets
 * them. `loc` gives the block function's local for each value 1 .. CAREFUL_VALUES (of
 * carefulType); `hb` is its local holding the hart area's offset. What the block's code already
 * knows is passed in: `enabled` pushes the i32 "FS on (and frm RNE, for DYN)" from what the pass
 * has proven (emit-fp.ts enabled), and `fsDirty` says FS is Dirty already. For a member with few
 * careful arms (emit-fp.ts carefulFor): a call costs a loop's held registers a spill and a reload
 * around it (V8's wasm calls save no register), where the inline code keeps them in registers.
 */
export function emitCarefulInline(
  c: Code,
  op: Careful,
  hb: number,
  loc: (v: number) => number,
  enabled: () => void,
  fsDirty: boolean,
): void {
  const at = (v: V): number => (v === V.HB ? hb : loc(v));
  c.set(at(V.C)).set(at(V.B)).set(at(V.A));
  c.op(Op.Block, T.F64);
  new Gen(c, at, true).body(op, enabled, fsDirty);
  c.op(Op.End);
}

/** The careful functions' module: it imports the machine's memory (the hart areas are in it). */
function carefulModule(shared: boolean): WebAssembly.Module {
  const funcs = OPS.flatMap((op) =>
    [false, true].map((dyn) => {
      const g = new Gen(new Code());
      g.body(op, dyn);
      return { type: CAREFUL_TYPE, locals: LOCALS, code: g.c, export: name(op, dyn) };
    }),
  );
  return new WebAssembly.Module(encodeModule({ imports: [], memoryPages: 1, sharedMemory: shared, funcs }));
}

const modules = new Map<boolean, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Record<string, WebAssembly.ExportValue>>();

/** The careful functions on `memory`, by import name (one instance per memory, shared by its harts). */
export function carefulExports(memory: WebAssembly.Memory): Record<string, WebAssembly.ExportValue> {
  let e = instances.get(memory);
  if (e === undefined) {
    const shared = memory.buffer instanceof SharedArrayBuffer;
    let m = modules.get(shared);
    if (m === undefined) modules.set(shared, (m = carefulModule(shared)));
    e = { ...new WebAssembly.Instance(m, { i: { m: memory } }).exports };
    instances.set(memory, e);
  }
  return e;
}
