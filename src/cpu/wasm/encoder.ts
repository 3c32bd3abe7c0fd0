/**
 * A small WebAssembly binary writer: just what the wasm tier (wasm/emit.ts, wasm/tier.ts) emits. Opcodes,
 * section ids and encodings follow the WebAssembly core specification 2.0, chapter 5 ("Binary
 * Format"): 5.2.2 LEB128 integers, 5.3 types, 5.4 instructions, 5.5 modules; and the branch-hinting
 * proposal's custom section (branchHints).
 */
// V8 reads branch hints only under a flag, which must be set before the first module compiles.
import "./branch-hints.js";

/** Value types (5.3.1). */
export const enum T {
  I32 = 0x7f,
  I64 = 0x7e,
  F64 = 0x7c,
}

/** Instruction opcodes used by the tier (5.4). */
export const enum Op {
  Unreachable = 0x00,
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  BrTable = 0x0e,
  Return = 0x0f,
  Call = 0x10,
  CallIndirect = 0x11,
  Drop = 0x1a,
  Select = 0x1b,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  I64Load = 0x29,
  F64Load = 0x2b,
  I64Load8S = 0x30,
  I64Load8U = 0x31,
  I64Load16S = 0x32,
  I64Load16U = 0x33,
  I64Load32S = 0x34,
  I64Load32U = 0x35,
  I32Store = 0x36,
  I64Store = 0x37,
  F64Store = 0x39,
  I64Store8 = 0x3c,
  I64Store16 = 0x3d,
  I64Store32 = 0x3e,
  I32Const = 0x41,
  I64Const = 0x42,
  F64Const = 0x44,
  I32Eqz = 0x45,
  I32Eq = 0x46,
  I32Ne = 0x47,
  I32LtS = 0x48,
  I32GtS = 0x4a,
  I32LtU = 0x49,
  I32GtU = 0x4b,
  I32LeU = 0x4d,
  I32GeS = 0x4e,
  I32GeU = 0x4f,
  I64Eqz = 0x50,
  I64Eq = 0x51,
  I64Ne = 0x52,
  I64LtS = 0x53,
  I64LtU = 0x54,
  I64GtS = 0x55,
  I64GtU = 0x56,
  I64GeS = 0x59,
  I64GeU = 0x5a,
  F64Eq = 0x61,
  F64Ne = 0x62,
  F64Lt = 0x63,
  F64Gt = 0x64,
  F64Le = 0x65,
  F64Ge = 0x66,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32DivS = 0x6d,
  I32DivU = 0x6e,
  I32RemS = 0x6f,
  I32RemU = 0x70,
  I32And = 0x71,
  I32Or = 0x72,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64DivS = 0x7f,
  I64DivU = 0x80,
  I64RemS = 0x81,
  I64RemU = 0x82,
  I64And = 0x83,
  I64Or = 0x84,
  I64Xor = 0x85,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  I64ShrU = 0x88,
  F64Abs = 0x99,
  F64Neg = 0x9a,
  F64Sqrt = 0x9f,
  F64Add = 0xa0,
  F64Sub = 0xa1,
  F64Mul = 0xa2,
  F64Div = 0xa3,
  F64Min = 0xa4,
  F64Max = 0xa5,
  I32WrapI64 = 0xa7,
  I32TruncF64U = 0xab,
  I64ExtendI32S = 0xac,
  I64ExtendI32U = 0xad,
  I64TruncF64S = 0xb0,
  F64ConvertI64S = 0xb9,
  I64ReinterpretF64 = 0xbd,
  F64ReinterpretI64 = 0xbf,
  I64Extend32S = 0xc4,
}

const F64_BITS = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64_BITS.buffer);

/** Block type "no result" (5.4.1). */
export const VOID = 0x40;

/**
 * A branch hint (the WebAssembly branch-hinting proposal, "metadata.code.branch_hint"): whether
 * an `if` is likely to enter its first arm, a `br_if` likely to branch. Only V8's optimizing
 * compiler reads them (Node 20: under --experimental-wasm-branch-hinting, branch-hints.ts): the
 * unlikely side becomes deferred code, laid out after the function's hot path, and values that
 * live across a call made only there are spilled only there.
 */
export const enum Hint {
  Unlikely = 0,
  Likely = 1,
}

/** The custom section that holds a module's branch hints (encodeModule). */
export const BRANCH_HINT_SECTION = "metadata.code.branch_hint";

/** Where encoded bytes go: a Bytes buffer (or, in tests, an array). */
export interface Sink {
  push(b: number): unknown;
}

/**
 * A growable byte buffer. Modules were first built in number arrays and copied element by element
 * from section to section: 30 µs for a 1 KiB module, more than V8 took to compile it.
 */
export class Bytes implements Sink {
  private buf = new Uint8Array(256);
  length = 0;
  push(b: number): void {
    if (this.length === this.buf.length) this.reserve(1);
    this.buf[this.length++] = b;
  }
  append(src: Bytes): void {
    this.reserve(src.length);
    this.buf.set(src.buf.subarray(0, src.length), this.length);
    this.length += src.length;
  }
  /** A copy of the bytes written. */
  result(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
}

/** Unsigned LEB128 of a non-negative integer below 2^53 (5.2.2). */
export function uleb(out: Sink, v: number): void {
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

/**
 * Signed LEB128 (5.2.2) of an integer in the safe range (|v| < 2^53): every constant the tier
 * emits (immediates, pc offsets, masks) is one. Integer arithmetic, not BigInt: encoding was
 * most of a block's compile time with BigInt.
 */
export function sleb(out: Sink, v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`wasm encoder: ${v} is not a safe integer`);
  for (;;) {
    const b = ((v % 128) + 128) % 128;
    v = (v - b) / 128;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** A function body being written. */
export class Code {
  readonly bytes = new Bytes();
  /** Branch hints, in pairs: the hinted instruction's offset in `bytes`, and its Hint. */
  readonly hints: number[] = [];
  op(o: number, ...more: number[]): this {
    this.bytes.push(o);
    for (const m of more) this.bytes.push(m);
    return this;
  }
  /** An opcode with one index immediate (locals, labels, functions). */
  private indexed(op: Op, i: number): this {
    this.bytes.push(op);
    uleb(this.bytes, i);
    return this;
  }
  get(l: number): this {
    return this.indexed(Op.LocalGet, l);
  }
  set(l: number): this {
    return this.indexed(Op.LocalSet, l);
  }
  tee(l: number): this {
    return this.indexed(Op.LocalTee, l);
  }
  i32(v: number): this {
    this.bytes.push(Op.I32Const);
    sleb(this.bytes, v | 0);
    return this;
  }
  /** An i64 constant: a safe integer (see sleb). */
  i64(v: number): this {
    this.bytes.push(Op.I64Const);
    sleb(this.bytes, v);
    return this;
  }
  /** An f64 constant, its IEEE 754 bits little-endian (5.4.1 f64.const). */
  f64(v: number): this {
    this.bytes.push(Op.F64Const);
    F64_BITS[0] = v;
    for (const b of F64_BYTES) this.bytes.push(b);
    return this;
  }
  /** A load or store with its memarg (5.4.6): alignment exponent and a constant offset. */
  mem(op: Op, align: number, offset: number): this {
    this.bytes.push(op);
    this.bytes.push(align);
    uleb(this.bytes, offset);
    return this;
  }
  /** block/loop/if with no result; an `if` may carry a branch hint. */
  open(op: Op.Block | Op.Loop, hint?: undefined): this;
  open(op: Op.If, hint?: Hint): this;
  open(op: Op.Block | Op.Loop | Op.If, hint?: Hint): this {
    if (hint !== undefined) this.hints.push(this.bytes.length, hint);
    this.bytes.push(op);
    this.bytes.push(VOID);
    return this;
  }
  /** br, or br_if with an optional branch hint. */
  br(op: Op.Br, depth: number, hint?: undefined): this;
  br(op: Op.BrIf, depth: number, hint?: Hint): this;
  br(op: Op.Br | Op.BrIf, depth: number, hint?: Hint): this {
    if (hint !== undefined) this.hints.push(this.bytes.length, hint);
    return this.indexed(op, depth);
  }
  call(f: number): this {
    return this.indexed(Op.Call, f);
  }
  /** br_table (5.4.1): branch to `depths[i]` for the i32 operand i, else to `otherwise`. */
  brTable(depths: readonly number[], otherwise: number): this {
    this.bytes.push(Op.BrTable);
    uleb(this.bytes, depths.length);
    for (const d of depths) uleb(this.bytes, d);
    uleb(this.bytes, otherwise);
    return this;
  }
}

export interface FuncType {
  params: readonly T[];
  results: readonly T[];
}

export interface ModuleSpec {
  /** Functions imported from module "i" under their names, in order (they are indices 0..). */
  imports: readonly { name: string; type: FuncType }[];
  /** The memory imported as "i"."m" (a shared WebAssembly.Memory), with its minimum pages. */
  memoryPages: number;
  /** The memory is shared (WebAssembly threads): its import says so. */
  sharedMemory?: boolean;
  /** Import a function table as "i"."t" (table 0), for call_indirect. */
  table?: boolean;
  /** Types listed first (indices 0..), for call_indirect to name; the functions' own follow. */
  types?: readonly FuncType[];
  /** Defined functions: type, extra locals, body (without the final `end`), export name. */
  funcs: readonly { type: FuncType; locals: readonly T[]; code: Code; export: string }[];
}

const utf8 = new TextEncoder();

function name(out: Bytes, s: string): void {
  const b = utf8.encode(s);
  uleb(out, b.length);
  for (const c of b) out.push(c);
}

function section(out: Bytes, id: number, body: Bytes): void {
  out.push(id);
  uleb(out, body.length);
  out.append(body);
}

/**
 * The payload of the custom section BRANCH_HINT_SECTION (branch-hinting proposal, "Binary
 * format"): its name, then for each function with hints, in increasing function index (imports
 * come first in the index space, 5.5.9), its index and a vector of hints in increasing offset,
 * each the offset of an `if` or `br_if` from the function body's start, a size (always 1) and
 * the Hint byte. V8 drops the whole section, silently, if any of that is out of order or
 * malformed (branch-hints.test.ts decodes it). The proposal puts the section before the code
 * section: a streaming compiler may compile a function as soon as its body arrives.
 */
function branchHints(imports: number, bodies: readonly { codeAt: number; hints: readonly number[] }[]): Bytes {
  const out = new Bytes();
  name(out, BRANCH_HINT_SECTION);
  uleb(out, bodies.filter((b) => b.hints.length > 0).length);
  bodies.forEach(({ codeAt, hints }, j) => {
    if (hints.length === 0) return;
    uleb(out, imports + j);
    uleb(out, hints.length / 2);
    for (let i = 0; i < hints.length; i += 2) {
      uleb(out, codeAt + hints[i]!);
      uleb(out, 1);
      out.push(hints[i + 1]!);
    }
  });
  return out;
}

/** The module's bytes (5.5). Each import and function gets a type of its own (after `types`). */
export function encodeModule(m: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = new Bytes();
  for (const b of [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) out.push(b);
  const first = m.types ?? [];
  const types = [...first, ...m.imports.map((i) => i.type), ...m.funcs.map((f) => f.type)];
  const ty = new Bytes();
  uleb(ty, types.length);
  for (const t of types) {
    ty.push(0x60);
    uleb(ty, t.params.length);
    for (const p of t.params) ty.push(p);
    uleb(ty, t.results.length);
    for (const r of t.results) ty.push(r);
  }
  section(out, 1, ty);
  const im = new Bytes();
  uleb(im, m.imports.length + 1 + (m.table ? 1 : 0));
  m.imports.forEach((imp, i) => {
    name(im, "i");
    name(im, imp.name);
    im.push(0x00);
    uleb(im, first.length + i);
  });
  name(im, "i");
  name(im, "m");
  im.push(0x02);
  if (m.sharedMemory) {
    // A shared memory (threads proposal: limits flag 3, shared with a maximum), as RAM is when
    // harts run on threads; the import's maximum must be at least the memory's: the largest.
    im.push(0x03);
    uleb(im, m.memoryPages);
    uleb(im, 65536);
  } else {
    im.push(0x00); // memory, limits with a minimum only
    uleb(im, m.memoryPages);
  }
  if (m.table) {
    name(im, "i");
    name(im, "t");
    for (const b of [0x01, 0x70, 0x00, 0x00]) im.push(b); // table of funcref, minimum 0 (5.5.5)
  }
  section(out, 2, im);
  const fn = new Bytes();
  uleb(fn, m.funcs.length);
  m.funcs.forEach((_, j) => uleb(fn, first.length + m.imports.length + j));
  section(out, 3, fn);
  const ex = new Bytes();
  uleb(ex, m.funcs.length);
  m.funcs.forEach((f, j) => {
    name(ex, f.export);
    ex.push(0x00);
    uleb(ex, m.imports.length + j);
  });
  section(out, 7, ex);
  // Function bodies (5.5.13): the locals in runs of one type, the code, `end`. A hint's offset
  // is from the body's start, its locals declarations (after the body's size).
  const bodies = m.funcs.map((f) => {
    const body = new Bytes();
    const runs: [number, T][] = [];
    for (const l of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === l) last[0]++;
      else runs.push([1, l]);
    }
    uleb(body, runs.length);
    for (const [n, t] of runs) {
      uleb(body, n);
      body.push(t);
    }
    const codeAt = body.length;
    body.append(f.code.bytes);
    body.push(Op.End);
    return { body, codeAt, hints: f.code.hints };
  });
  if (bodies.some((b) => b.hints.length > 0)) section(out, 0, branchHints(m.imports.length, bodies));
  const code = new Bytes();
  uleb(code, bodies.length);
  for (const { body } of bodies) {
    uleb(code, body.length);
    code.append(body);
  }
  section(out, 10, code);
  return out.result();
}
