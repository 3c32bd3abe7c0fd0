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
  c.get(1).i64(-(2 ** 53 - 1)).op(Op.I64Xor);
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
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { i: { f: (n: number) => (seen.push(n), -n), m: memory, t: table } });
  const run = inst.exports["run"] as (n: number, x: bigint) => bigint;
  // x: 1 -> 3-3=0 -> 0-2=-2 -> -6-1=-7
  assert.equal(run(3, 1n), -7n ^ -(2n ** 53n - 1n));
  assert.deepEqual(seen, [3, 2, 1]);
  assert.equal(new DataView(memory.buffer).getBigInt64(8, true), -7n);
});
