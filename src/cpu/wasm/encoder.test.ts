// The wasm binary writer against V8's own decoder: LEB128 as the core spec's examples encode
// them (5.2.2), and modules with imports, a table, locals and control flow that V8 compiles and
// runs with the expected results.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, encodeModule, Op, sleb, T, uleb } from "./encoder.js";

test("LEB128: unsigned and signed encodings, to the ends of the safe integers", () => {
  const u = (v: number): number[] => {
    const out: number[] = [];
    uleb(out, v);
    return out;
  };
  const s = (v: number): number[] => {
    const out: number[] = [];
    sleb(out, v);
    return out;
  };
  assert.deepEqual(u(0), [0]);
  assert.deepEqual(u(127), [0x7f]);
  assert.deepEqual(u(128), [0x80, 0x01]);
  assert.deepEqual(u(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(s(0), [0]);
  assert.deepEqual(s(-1), [0x7f]);
  assert.deepEqual(s(63), [0x3f]);
  assert.deepEqual(s(64), [0xc0, 0x00]);
  assert.deepEqual(s(-64), [0x40]);
  assert.deepEqual(s(-65), [0xbf, 0x7f]);
  assert.deepEqual(s(-123456), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(s(2 ** 31), [0x80, 0x80, 0x80, 0x80, 0x08]);
  assert.deepEqual(s(-(2 ** 31)), [0x80, 0x80, 0x80, 0x80, 0x78]);
  assert.equal(s(2 ** 53 - 1).length, 8);
  assert.deepEqual(s(-(2 ** 53 - 1)), [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x70]);
  assert.throws(() => s(2 ** 53), /not a safe integer/);
});

test("a module with an imported function, memory and table, locals and a loop runs in V8", () => {
  // f(n i32, x i64) -> i64: loop { x = x * 3 + imported(n); n -= 1 } while n; store x at 8
  const c = new Code();
  c.open(Op.Loop);
  c.get(1).i64(3).op(Op.I64Mul).get(0).call(0).op(Op.I64ExtendI32S).op(Op.I64Add).set(1);
  c.get(0).i32(1).op(Op.I32Sub).tee(0).br(Op.BrIf, 0);
  c.op(Op.End);
  c.i32(0).get(1).mem(Op.I64Store, 3, 8);
  c.get(1)
    .i64(-(2 ** 53 - 1))
    .op(Op.I64Xor);
  const bytes = encodeModule({
    imports: [{ name: "f", type: { params: [T.I32], results: [T.I32] } }],
    memoryPages: 1,
    table: true,
    types: [{ params: [], results: [] }],
    funcs: [{ type: { params: [T.I32, T.I64], results: [T.I64] }, locals: [T.I32, T.I64], code: c, export: "run" }],
  });
  assert.ok(WebAssembly.validate(bytes));
  const memory = new WebAssembly.Memory({ initial: 1 });
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  const seen: number[] = [];
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    i: { f: (n: number) => (seen.push(n), -n), m: memory, t: table },
  });
  const run = inst.exports["run"] as (n: number, x: bigint) => bigint;
  // x: 1 -> 3-3=0 -> 0-2=-2 -> -6-1=-7
  assert.equal(run(3, 1n), -7n ^ -(2n ** 53n - 1n));
  assert.deepEqual(seen, [3, 2, 1]);
  assert.equal(new DataView(memory.buffer).getBigInt64(8, true), -7n);
});

test("f64 constants, and the TLB's double-to-offset conversion (emitter.ts tlbPage), run in V8", () => {
  // g(d f64) -> i32: the low word of (d + 2^52)'s bits; k() -> f64: a constant.
  const g = new Code();
  g.get(0)
    .f64(2 ** 52)
    .op(Op.F64Add)
    .op(Op.I64ReinterpretF64)
    .op(Op.I32WrapI64);
  const consts = [0, -0, 1.5, -(2 ** 60), 2 ** 52, Math.PI, Number.MAX_VALUE, Infinity];
  const bytes = encodeModule({
    imports: [],
    memoryPages: 1,
    funcs: [
      { type: { params: [T.F64], results: [T.I32] }, locals: [], code: g, export: "g" },
      ...consts.map((v, i) => {
        const c = new Code();
        c.f64(v);
        return { type: { params: [], results: [T.F64] }, locals: [], code: c, export: `k${i}` };
      }),
    ],
  });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    i: { m: new WebAssembly.Memory({ initial: 1 }) },
  });
  const ex = inst.exports as Record<string, (d?: number) => number>;
  consts.forEach((v, i) => assert.ok(Object.is(ex[`k${i}`]!(), v), `f64.const ${v}`));
  // Every RAM offset a TLB entry may hold: whole numbers from 0 to 2^32 - 1.
  for (const off of [0, 1, 4096, 0x7ffff000, 0x80000000, 0xfffff000, 2 ** 32 - 1])
    assert.equal(ex["g"]!(off) >>> 0, off);
});
