// The FP bench's program, shrunk, run by Corral (`corral run --firmware`) and by QEMU: both
// finish through the test finisher with the same checksum, every bit of the doubles an n-body
// simulation and a matrix multiply produce (fadd/fmul/fdiv/fsqrt.d, fused multiply-adds), so a
// rounding or NaN-boxing error in Corral's FPU fails here. No timing is checked.
import assert from "node:assert/strict";
import { test } from "node:test";
import { benchFp, parseFpResult, parseTimes } from "./fp.js";
import { CORRAL } from "./launcher.js";

test("fpbench gives the same checksum on Corral and on QEMU", async () => {
  const r = await benchFp(1, CORRAL, { steps: 20_000, mmRounds: 4 });
  assert.match(r.checksum, /^energy [0-9a-f]{16} [0-9a-f]{16} matmul [0-9a-f]{16}$/);
  for (const side of [r.corral, r.qemu]) {
    assert.equal(side.kernelMs.length, 1);
    // The n-body part is within the kernels' time, and the whole process took CPU time.
    assert.ok(side.nbodyMs[0]! > 0 && side.nbodyMs[0]! <= side.kernelMs[0]!, JSON.stringify(side));
    assert.ok(side.cpuMs[0]! > 0, JSON.stringify(side));
  }
});

// Above, the kernels' first thousands of passes run in the interpreter; here every block is
// compiled by the wasm tier before its first run (CORRAL_HOT_BLOCK=1), so every FP op of the
// checksum comes from compiled code: its inline forms, with fflags.NX clear and then set (the
// FAST forms of src/cpu/wasm/emit-fp.ts, and the host's fused multiply-add, wasm/hw-fma.ts).
test("fpbench gives QEMU's checksum with every block compiled by the wasm tier from its first run", async () => {
  const saved = process.env["CORRAL_HOT_BLOCK"];
  process.env["CORRAL_HOT_BLOCK"] = "1";
  try {
    const r = await benchFp(1, CORRAL, { steps: 2_000, mmRounds: 2 });
    assert.match(r.checksum, /^energy [0-9a-f]{16} [0-9a-f]{16} matmul [0-9a-f]{16}$/);
  } finally {
    if (saved === undefined) delete process.env["CORRAL_HOT_BLOCK"];
    else process.env["CORRAL_HOT_BLOCK"] = saved;
  }
});

test("a run without the result line is reported, not taken for a result", () => {
  const p = parseFpResult("fpbench energy 0 0 matmul 0\n");
  assert.ok("problem" in p);
  const ok = parseFpResult(
    "fpbench energy bfc5b9d17a033006 bfc5b9dd963739c0 matmul 413d0ede337787be ticks 0000000000989680\r\n",
  );
  assert.deepEqual(ok, {
    checksum: "energy bfc5b9d17a033006 bfc5b9dd963739c0 matmul 413d0ede337787be",
    kernelMs: 1000,
  });
  const split = parseFpResult(
    "fpbench energy bfc5b9d17a033006 bfc5b9dd963739c0 matmul 413d0ede337787be ticks 0000000000989680 nbody 00000000004c4b40\n",
  );
  assert.deepEqual(split, {
    checksum: "energy bfc5b9d17a033006 bfc5b9dd963739c0 matmul 413d0ede337787be",
    kernelMs: 1000,
    nbodyMs: 500,
  });
});

test("the process's CPU time is read from its shell's times, the children's line", () => {
  assert.equal(parseTimes("fpbench ...\n0m0.004s 0m0.002s\n0m1.250s 1m0.500s\n"), 1250 + 60_500);
  assert.equal(parseTimes("fpbench ...\n"), undefined);
});
