/**
 * A small WebAssembly binary writer: just what the wasm tier (wasm/compile.ts) emits. Opcodes,
 * section ids and encodings follow the WebAssembly core specification 2.0, chapter 5 ("Binary
 * Format"): 5.2.2 LEB128 integers, 5.3 types, 5.4 instructions, 5.5 modules.
 */

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
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32And = 0x71,
  I32Or = 0x72,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64And = 0x83,
  I64Or = 0x84,
  I64Xor = 0x85,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  I64ShrU = 0x88,
  I32WrapI64 = 0xa7,
  I32TruncF64U = 0xab,
  I64ExtendI32S = 0xac,
  I64ExtendI32U = 0xad,
  I64TruncF64S = 0xb0,
  F64ConvertI64S = 0xb9,
  I64Extend32S = 0xc4,
}

/** Block type "no result" (5.4.1). */
export const VOID = 0x40;

/** Unsigned LEB128 of a non-negative integer below 2^53 (5.2.2). */
export function uleb(out: number[], v: number): void {
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

/** Signed LEB128 of a 64-bit integer (5.2.2). */
export function sleb(out: number[], v: bigint): void {
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** A function body being written. */
export class Code {
  readonly bytes: number[] = [];
  op(...ops: number[]): this {
    for (const o of ops) this.bytes.push(o);
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
    sleb(this.bytes, BigInt(v | 0));
    return this;
  }
  i64(v: bigint): this {
    this.bytes.push(Op.I64Const);
    sleb(this.bytes, BigInt.asIntN(64, v));
    return this;
  }
  /** A load or store with its memarg (5.4.6): alignment exponent and a constant offset. */
  mem(op: Op, align: number, offset: number): this {
    this.bytes.push(op, align);
    uleb(this.bytes, offset);
    return this;
  }
  /** block/loop/if with no result. */
  open(op: Op.Block | Op.Loop | Op.If): this {
    this.bytes.push(op, VOID);
    return this;
  }
  br(op: Op.Br | Op.BrIf, depth: number): this {
    return this.indexed(op, depth);
  }
  call(f: number): this {
    return this.indexed(Op.Call, f);
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
  /** Import a function table as "i"."t" (table 0), for call_indirect. */
  table?: boolean;
  /** Types listed first (indices 0..), for call_indirect to name; the functions' own follow. */
  types?: readonly FuncType[];
  /** Defined functions: type, extra locals, body (without the final `end`), export name. */
  funcs: readonly { type: FuncType; locals: readonly T[]; code: Code; export: string }[];
}

function name(out: number[], s: string): void {
  const b = new TextEncoder().encode(s);
  uleb(out, b.length);
  for (const c of b) out.push(c);
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

function vec<X>(out: number[], xs: readonly X[], each: (x: X) => void): void {
  uleb(out, xs.length);
  xs.forEach(each);
}

/** The module's bytes (5.5). Each import and function gets a type of its own (after `types`). */
export function encodeModule(m: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const first = m.types ?? [];
  const types = [...first, ...m.imports.map((i) => i.type), ...m.funcs.map((f) => f.type)];
  const ty: number[] = [];
  vec(ty, types, (t) => {
    ty.push(0x60);
    vec(ty, t.params, (p) => ty.push(p));
    vec(ty, t.results, (r) => ty.push(r));
  });
  section(out, 1, ty);
  const im: number[] = [];
  uleb(im, m.imports.length + 1 + (m.table ? 1 : 0));
  m.imports.forEach((imp, i) => {
    name(im, "i");
    name(im, imp.name);
    im.push(0x00);
    uleb(im, first.length + i);
  });
  name(im, "i");
  name(im, "m");
  im.push(0x02, 0x00); // memory, limits with a minimum only
  uleb(im, m.memoryPages);
  if (m.table) {
    name(im, "i");
    name(im, "t");
    im.push(0x01, 0x70, 0x00, 0x00); // table of funcref, minimum 0 (5.5.5)
  }
  section(out, 2, im);
  const fn: number[] = [];
  uleb(fn, m.funcs.length);
  m.funcs.forEach((_, j) => uleb(fn, first.length + m.imports.length + j));
  section(out, 3, fn);
  const ex: number[] = [];
  uleb(ex, m.funcs.length);
  m.funcs.forEach((f, j) => {
    name(ex, f.export);
    ex.push(0x00);
    uleb(ex, m.imports.length + j);
  });
  section(out, 7, ex);
  const code: number[] = [];
  uleb(code, m.funcs.length);
  for (const f of m.funcs) {
    const body: number[] = [];
    // Locals in runs of one type (5.5.13).
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
    for (const b of f.code.bytes) body.push(b);
    body.push(Op.End);
    uleb(code, body.length);
    for (const b of body) code.push(b);
  }
  section(out, 10, code);
  return new Uint8Array(out);
}
