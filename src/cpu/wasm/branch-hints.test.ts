// The wasm tier's branch hints (encoder.ts Hint, the custom section "metadata.code.branch_hint" of
// the WebAssembly branch-hinting proposal). V8 drops a malformed section without a word and
// ignores a hint whose offset is not an `if` or `br_if`, so the section is decoded here, each
// function body walked instruction by instruction, and every hint must name an `if` or `br_if`
// at its offset from the body's start; then V8 itself, in a child process that prints its
// optimized code, must lay a hinted slow path out after the function's return.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { B, I, J, R, S } from "../isa/encode.testkit.js";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { blockBody, regionBody, RUN_TYPE, type Body, type Emittable } from "./emit.js";
import { LOCALS, MIN_PAGES, SERVICES } from "./emitter.js";
import { BRANCH_HINT_SECTION, Code, encodeModule, Hint, Op, T, type FuncType } from "./encoder.js";

/** A cursor over a module's bytes, reading LEB128 (core spec 5.2.2). */
class Reader {
  constructor(
    readonly b: Uint8Array,
    public p = 0,
  ) {}
  u8(): number {
    return this.b[this.p++]!;
  }
  uleb(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const x = this.u8();
      v += (x & 0x7f) * scale;
      scale *= 128;
      if ((x & 0x80) === 0) return v;
    }
  }
  skipLeb(): void {
    while (this.u8() & 0x80);
  }
  name(): string {
    const n = this.uleb();
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}

interface Decoded {
  /** Section ids in order (0 for custom sections). */
  order: number[];
  importedFuncs: number;
  /** Each defined function's body: its start (after its size) and end in the module's bytes. */
  bodies: { start: number; end: number }[];
  /** The branch hints: function index -> [offset, size, value] in order. */
  hints: Map<number, [number, number, number][]>;
}

/** A module's sections, its function bodies and its branch hint section, decoded by the proposal's format. */
function decodeModule(bytes: Uint8Array): Decoded {
  const r = new Reader(bytes, 8);
  const out: Decoded = { order: [], importedFuncs: 0, bodies: [], hints: new Map() };
  while (r.p < bytes.length) {
    const id = r.u8();
    const size = r.uleb();
    const end = r.p + size;
    out.order.push(id);
    if (id === 2) {
      for (let n = r.uleb(); n > 0; n--) {
        r.name();
        r.name();
        const kind = r.u8();
        if (kind === 0) {
          out.importedFuncs++;
          r.uleb();
        } else if (kind === 1)
          r.p += 4; // table: reftype, limits flag 0, min (tier.ts imports one)
        else if (kind === 2) {
          const flags = r.u8();
          r.uleb();
          if (flags & 1) r.uleb();
        }
      }
    } else if (id === 10) {
      for (let n = r.uleb(); n > 0; n--) {
        const len = r.uleb();
        out.bodies.push({ start: r.p, end: r.p + len });
        r.p += len;
      }
    } else if (id === 0 && r.name() === BRANCH_HINT_SECTION) {
      for (let n = r.uleb(); n > 0; n--) {
        const func = r.uleb();
        const hints: [number, number, number][] = [];
        for (let k = r.uleb(); k > 0; k--) hints.push([r.uleb(), r.uleb(), r.u8()]);
        out.hints.set(func, hints);
      }
      assert.equal(r.p, end, "nothing after the hints");
    }
    r.p = end;
  }
  return out;
}

/**
 * The instructions of the function body at bytes[start, end): offset from `start` -> opcode.
 * Knows every opcode the tier emits (encoder.ts Op, and hw-fma.ts's SIMD ones); an unknown one fails.
 */
function instructions(bytes: Uint8Array, start: number, end: number): Map<number, number> {
  const r = new Reader(bytes, start);
  for (let runs = r.uleb(); runs > 0; runs--) {
    r.uleb();
    r.u8();
  }
  const out = new Map<number, number>();
  while (r.p < end) {
    out.set(r.p - start, bytes[r.p]!);
    const op = r.u8();
    if (op === Op.Block || op === Op.Loop || op === Op.If) r.u8();
    else if (op === Op.Br || op === Op.BrIf || op === Op.Call || (op >= Op.LocalGet && op <= Op.LocalTee)) r.uleb();
    else if (op === Op.BrTable) {
      for (let n = r.uleb() + 1; n > 0; n--) r.uleb();
    } else if (op === Op.CallIndirect) {
      r.uleb();
      r.uleb();
    } else if (op >= 0x28 && op <= 0x3e) {
      r.uleb();
      r.uleb();
    } else if (op === Op.I32Const || op === Op.I64Const) r.skipLeb();
    else if (op === Op.F64Const) r.p += 8;
    else if (op === 0xfd) {
      const sub = r.uleb();
      if (sub === 0x0c) r.p += 16;
      else if (sub >= 0x15 && sub <= 0x22) r.p += 1;
    } else
      assert.ok(
        op === Op.Unreachable ||
          op === Op.Else ||
          op === Op.End ||
          op === Op.Return ||
          (op >= Op.Drop && op <= Op.Select) ||
          (op >= 0x45 && op <= 0xc4),
        `unknown opcode 0x${op.toString(16)} at +${r.p - 1 - start}`,
      );
  }
  assert.equal(r.p, end, "the last instruction ends with the body");
  return out;
}

/** Check every hint of `bytes` names an `if` or `br_if` of its function; return the hinted opcodes and values. */
function checkHints(bytes: Uint8Array): { op: number; hint: number }[] {
  const d = decodeModule(bytes);
  const code = d.order.indexOf(10);
  assert.ok(d.order.indexOf(0) >= 0 && d.order.indexOf(0) < code, "the hint section comes before the code section");
  const funcs = [...d.hints.keys()];
  assert.deepEqual(
    funcs,
    [...funcs].sort((a, b) => a - b),
    "function indices increase",
  );
  const seen: { op: number; hint: number }[] = [];
  for (const [func, hints] of d.hints) {
    const body = d.bodies[func - d.importedFuncs];
    assert.ok(body, `function ${func} is a defined function`);
    const ins = instructions(bytes, body.start, body.end);
    let last = -1;
    for (const [off, size, value] of hints) {
      assert.ok(off > last, "offsets increase");
      last = off;
      assert.equal(size, 1);
      assert.ok(value === Hint.Likely || value === Hint.Unlikely);
      const op = ins.get(off);
      assert.ok(op === Op.If || op === Op.BrIf, `hint at +${off} of function ${func} names opcode ${op}`);
      seen.push({ op, hint: value });
    }
  }
  return seen;
}

const V: FuncType = { params: [T.I32], results: [T.I32] };

/** f(x) = x + 1, calling import 0 first when x == 12345: the `if` hinted `hint` (none: undefined). */
function slowPathFunc(hint: Hint | undefined): Code {
  const c = new Code();
  c.get(0).i32(12345).op(Op.I32Eq).open(Op.If, hint).call(0).op(Op.End);
  return c.get(0).i32(1).op(Op.I32Add);
}

test("the hint section: function indices after the imports, offsets from the body's start at `if` and `br_if`", () => {
  const hinted = new Code();
  // Locals in three runs: the body's start is 7 bytes before its first instruction.
  hinted.open(Op.Block);
  hinted.get(0).i32(1).op(Op.I32Eq).br(Op.BrIf, 0, Hint.Unlikely);
  hinted.get(0).i32(3).op(Op.I32GtS).open(Op.If, Hint.Likely).i32(7).set(1).op(Op.End);
  hinted.get(0).br(Op.BrIf, 0);
  hinted.op(Op.End);
  hinted.get(1);
  const bytes = encodeModule({
    imports: [{ name: "d", type: { params: [], results: [] } }],
    memoryPages: 1,
    funcs: [
      { type: V, locals: [], code: slowPathFunc(undefined), export: "plain" },
      { type: V, locals: [T.I32, T.I32, T.I64, T.F64], code: hinted, export: "hinted" },
      { type: V, locals: [], code: slowPathFunc(Hint.Unlikely), export: "slow" },
    ],
  });
  const d = decodeModule(bytes);
  assert.deepEqual([...d.hints.keys()], [2, 3], "only the hinted functions, indexed after the one import");
  assert.deepEqual(
    d.hints.get(2)!.map(([off, , v]) => [off, v]),
    [
      [14, Hint.Unlikely],
      [21, Hint.Likely],
    ],
  );
  assert.deepEqual(
    checkHints(bytes).map(({ op, hint }) => [op, hint]),
    [
      [Op.BrIf, Hint.Unlikely],
      [Op.If, Hint.Likely],
      [Op.If, Hint.Unlikely],
    ],
  );
  // The hints change no result.
  const calls: number[] = [];
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    i: { d: () => calls.push(1), m: new WebAssembly.Memory({ initial: 1 }) },
  });
  const e = inst.exports as Record<string, (x: number) => number>;
  assert.deepEqual(
    [0, 1, 2, 5].map((x) => e["hinted"]!(x)),
    [0, 0, 0, 7],
  );
  assert.deepEqual([e["slow"]!(12345), e["slow"]!(1), calls.length], [12346, 2, 1]);
});

// Instructions beyond the formats of encode.testkit.ts (unprivileged spec 2.3).
const JAL0 = (imm: number): number => J(imm, 0);
const FADD_D = (rd: number, rs1: number, rs2: number): number => R(0x01, rs2, rs1, 7, rd, 0x53);
const AMOADD_D = (rd: number, rs2: number, rs1: number): number => R(0, rs2, rs1, 3, rd, 0x2f);

test("the tier's own modules: a loop block and a region, every hint on an `if` or `br_if`", () => {
  // A: ld t1, 0(a0); addi a0, a0, 8; fadd.d f1, f2, f3; j B
  // B: sd t1, 0(a0); amoadd.d t2, t1, (a1); bne a0, a2, A; j A (leaves through A's loop)
  // C: ld t1, 0(a0); addi a0, a0, 8; bne a0, a2, C; jal x0, 0 (a block that loops on itself)
  const A = 0x1000;
  const Bo = 0x1010;
  const C = 0x1100;
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  const put = (at: number, words: number[]): void => words.forEach((w, i) => m.ram.view.setInt32(at + 4 * i, w, true));
  put(A, [I(0, 10, 3, 6, 0x03), I(8, 10, 0, 10, 0x13), FADD_D(1, 2, 3), JAL0(Bo - (A + 12))]);
  put(Bo, [S(0, 6, 10, 3), AMOADD_D(7, 6, 11), B(A - (Bo + 8), 12, 10, 1), JAL0(A - (Bo + 12))]);
  put(C, [I(0, 10, 3, 6, 0x03), I(8, 10, 0, 10, 0x13), B(-8, 12, 10, 1), JAL0(0)]);
  m.cache.invalidateAll();
  h.openPmp();
  const block = (pc: number): Emittable => {
    h.pc = RAM_BASE + pc;
    return m.cache.lookup(h);
  };
  const region = regionBody([block(A), block(Bo)], [0, 1]);
  assert.ok(region, "A and B make a region");
  const bodies: Body[] = [region, blockBody(block(C), 2)];
  const bytes = encodeModule({
    imports: SERVICES,
    memoryPages: MIN_PAGES,
    funcs: bodies.map(({ code, regLocals }, f) => ({
      type: RUN_TYPE,
      locals: [...LOCALS, ...regLocals],
      code,
      export: `f${f}`,
    })),
  });
  assert.ok(WebAssembly.validate(bytes));
  const seen = checkHints(bytes);
  const count = (op: number, hint: Hint): number => seen.filter((s) => s.op === op && s.hint === hint).length;
  assert.ok(count(Op.BrIf, Hint.Likely) >= 2, "page cache hits (one per base and TLB) are likely");
  assert.ok(count(Op.If, Hint.Likely) >= 4, "TLB hits, the AMO's and the FP op's fast paths are likely");
  assert.ok(count(Op.BrIf, Hint.Unlikely) >= 4, "the budget and stop exits of a region's back-edges are unlikely");
  const d = decodeModule(bytes);
  assert.deepEqual([...d.hints.keys()], [SERVICES.length, SERVICES.length + 1], "both functions have hints");
});

test("V8 lays a slow path hinted unlikely out after the function's return (optimized code, flag set)", (t) => {
  // A child process compiles slowPathFunc with and without the hint straight to V8's optimizing
  // tier and prints its code: with the hint, the import's call comes after the first `ret`.
  const encoder = new URL("./encoder.js", import.meta.url).href;
  const script =
    `import { Code, encodeModule } from ${JSON.stringify(encoder)};\n` +
    `const hint = process.argv[1] === "hint" ? 0 : undefined;\n` +
    `const c = new Code();\n` +
    `c.get(0).i32(12345).op(0x${Op.I32Eq.toString(16)}).open(0x04, hint).call(0).op(0x0b);\n` +
    `c.get(0).i32(1).op(0x${Op.I32Add.toString(16)});\n` +
    `const bytes = encodeModule({ imports: [{ name: "d", type: { params: [], results: [] } }], memoryPages: 1,\n` +
    `  funcs: [{ type: { params: [0x7f], results: [0x7f] }, locals: [], code: c, export: "f" }] });\n` +
    `const f = new WebAssembly.Instance(new WebAssembly.Module(bytes), { i: { d() {}, m: new WebAssembly.Memory({ initial: 1 }) } }).exports.f;\n` +
    // Run once: V8 prints the code when it is first used.
    `f(1);\n`;
  const layout = (arg: string): string[] => {
    const r = spawnSync(
      process.execPath,
      ["--no-liftoff", "--print-wasm-code", "--input-type=module", "-e", script, arg],
      // The flag as encoder.ts sets it in every process (CORRAL_BRANCH_HINTS=0 would leave it off).
      {
        encoding: "utf8",
        cwd: fileURLToPath(new URL(".", import.meta.url)),
        env: { ...process.env, CORRAL_BRANCH_HINTS: "" },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    // Each instruction's mnemonic, in address order, of the one function.
    return [...r.stdout.matchAll(/^0x[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+(?:REX\.W )?(\w+)/gm)].map((x) => x[1]!);
  };
  const plain = layout("plain");
  if (plain.length === 0) {
    t.skip("this node prints no optimized code (no disassembler)");
    return;
  }
  const hinted = layout("hint");
  // The stack check's call is deferred either way; the import's call is inline without the hint.
  const firstCallAfterRet = (ins: string[]): boolean => ins.indexOf("call") > ins.indexOf("retl");
  assert.equal(firstCallAfterRet(hinted), true, `hinted: ${hinted.join(" ")}`);
  assert.equal(firstCallAfterRet(plain), false, `plain: ${plain.join(" ")}`);
});
