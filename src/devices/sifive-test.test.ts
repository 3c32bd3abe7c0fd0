/**
 * The test finisher against QEMU's: a bare-metal RISC-V program (hand-assembled with bare-metal.testkit.ts) stores
 * values to QEMU virt's finisher; QEMU's exit status is compared with what SifiveTest reports
 * for the same stores.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { asm, haveQemu, runBareMetal, S0, S1, T0, T1, T2, VIRT_TEST_BASE } from "./bare-metal.testkit.js";
import { FINISHER, type FinishEvent, SifiveTest } from "./sifive-test.js";

/**
 * Stores `first` to the finisher one by one; if the machine resets and runs the program again,
 * stores `afterReset` instead. A word of RAM past the program (not reloaded on reset) tells the
 * two runs apart.
 */
function program(first: number[], afterReset: number[]): number[] {
  const stores = (vs: number[]): number[] => vs.flatMap((v) => [...asm.li(T1, v), asm.sw(T1, T0, 0)]).concat(asm.spin);
  const a = stores(first);
  const head = [
    asm.lui(T0, VIRT_TEST_BASE >>> 12),
    asm.auipc(T2, 1),
    asm.lw(S0, T2, 0),
    asm.addi(S1, 0, 1),
    asm.sw(S1, T2, 0),
  ];
  return [...head, asm.bne(S0, 0, 4 * (a.length + 1)), ...a, ...stores(afterReset)];
}

/** What SifiveTest reports for the same stores: the last event, following a reset like QEMU. */
function ours(first: number[], afterReset: number[]): FinishEvent | undefined {
  let last: FinishEvent | undefined;
  let stage = first;
  let reset = false;
  const dev = new SifiveTest((e) => {
    last = e;
    if (e.kind === "reset") reset = true;
  });
  for (let i = 0; i < stage.length && last?.kind !== "poweroff"; i++) {
    dev.write(0, 4, stage[i] as number);
    if (reset) {
      reset = false;
      stage = afterReset;
      i = -1;
    }
  }
  return last;
}

const qemuMissing = !haveQemu();

const cases: { what: string; first: number[]; afterReset?: number[]; poweroffCode: number }[] = [
  { what: "pass", first: [FINISHER.pass], poweroffCode: 0 },
  { what: "pass ignores the code field", first: [(7 << 16) | FINISHER.pass], poweroffCode: 0 },
  { what: "fail with code 3", first: [(3 << 16) | FINISHER.fail], poweroffCode: 3 },
  { what: "fail with code 255", first: [(255 << 16) | FINISHER.fail], poweroffCode: 255 },
  { what: "other values are ignored", first: [0x1234, 0x3334, (5 << 16) | FINISHER.fail], poweroffCode: 5 },
  {
    what: "reset reruns the machine",
    first: [FINISHER.reset],
    afterReset: [(9 << 16) | FINISHER.fail],
    poweroffCode: 9,
  },
];

for (const c of cases) {
  test(
    `finisher: ${c.what}, as QEMU's`,
    { skip: qemuMissing && "needs qemu-system-riscv64 (apt: qemu-system-misc)" },
    () => {
      const run = runBareMetal(program(c.first, c.afterReset ?? []));
      assert.equal(run.status, c.poweroffCode, `QEMU exit status; stderr: ${run.stderr}`);
      assert.deepEqual(ours(c.first, c.afterReset ?? []), { kind: "poweroff", code: run.status });
    },
  );
}

test("events for each store; narrow stores and other offsets as QEMU treats them", () => {
  const events: FinishEvent[] = [];
  const dev = new SifiveTest((e) => events.push(e));
  dev.write(0, 4, FINISHER.reset);
  dev.write(0, 4, (0xbeef << 16) | FINISHER.fail);
  dev.write(4, 4, FINISHER.pass); // only offset 0 is the finisher register
  dev.write(0, 1, 0x55); // byte stores are below the register's minimum access size
  dev.write(0, 2, FINISHER.fail); // a halfword store has no code field
  assert.deepEqual(events, [{ kind: "reset" }, { kind: "poweroff", code: 0xbeef }, { kind: "poweroff", code: 0 }]);
  assert.equal(dev.read(0, 4), 0);
  assert.equal(FINISHER.size, 0x1000);
});
