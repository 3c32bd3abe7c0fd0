import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Clock } from "../machine/clock.js";
import { Clint, CLINT_LAYOUT, MIP_MSIP, MIP_MTIP } from "./clint.js";
import { RecordingHart } from "./recording-hart.testkit.js";

const L = CLINT_LAYOUT;
const TWO32 = 2 ** 32;

function setCmp(clint: Clint, hart: number, value: number): void {
  // As a 64-bit store reaches the device: low word, then high word.
  clint.write(L.mtimecmp + 8 * hart, 4, value % TWO32);
  clint.write(L.mtimecmp + 8 * hart + 4, 4, Math.floor(value / TWO32));
}

function readMtime(clint: Clint): number {
  const lo = clint.read(L.mtime, 4);
  return clint.read(L.mtime + 4, 4) * TWO32 + lo;
}

test("layout: msip, mtimecmp and mtime where the SiFive CLINT has them", () => {
  assert.equal(L.msip, 0x0);
  assert.equal(L.mtimecmp, 0x4000);
  assert.equal(L.mtime, 0xbff8);
  assert.equal(L.size, 0x10000);
  // The last hart's mtimecmp ends exactly where mtime begins.
  assert.equal(L.mtimecmp + L.maxHarts * L.mtimecmpStride, L.mtime);
  assert.equal(L.msip + L.maxHarts * L.msipStride <= L.mtimecmp, true);
});

test("msip bit 0 raises and clears MSIP of that hart only, and wakes it", () => {
  const harts = [new RecordingHart(0), new RecordingHart(1)];
  const clint = new Clint(new Clock(), harts);
  for (const h of harts) h.wakes = 0;
  clint.write(4, 4, 1);
  assert.equal(harts[1]?.mip, MIP_MSIP | MIP_MTIP); // MTIP: mtimecmp resets to 0
  assert.equal(harts[1]?.wakes, 1);
  assert.equal(harts[0]?.mip, MIP_MTIP);
  assert.equal(harts[0]?.wakes, 0);
  assert.equal(clint.read(4, 4), 1);
  assert.equal(clint.read(0, 4), 0);
  clint.write(4, 4, 0xfffffffe); // bits 31:1 are hardwired to zero
  assert.equal(clint.read(4, 4), 0);
  assert.equal(harts[1]?.mip, MIP_MTIP);
  clint.write(8, 4, 1); // hart 2 does not exist
  assert.equal(clint.read(8, 4), 0);
});

test("mtime follows the Clock; writes to it set an offset, word by word", () => {
  const clock = new Clock();
  clock.freeze();
  const clint = new Clint(clock, [new RecordingHart(0)]);
  assert.equal(readMtime(clint), clock.ticks());
  clint.write(L.mtime + 4, 4, 1);
  clint.write(L.mtime, 4, 5);
  assert.equal(readMtime(clint), TWO32 + 5);
  assert.equal(clint.mtime(), TWO32 + 5);
  assert.equal(clint.read(L.mtime + 4, 2), 1);
});

test("writing mtimecmp updates MTIP at once; poll() reports the next deadline in Clock ticks", () => {
  const clock = new Clock();
  clock.freeze();
  const hart = new RecordingHart(0);
  const clint = new Clint(clock, [hart]);
  // Reset: mtimecmp is 0 as in QEMU, so MTIP is pending and no deadline lies ahead.
  assert.equal(hart.mip, MIP_MTIP);
  assert.equal(clint.read(L.mtimecmp, 4), 0);
  assert.equal(clint.poll(), Infinity);
  const now = clint.mtime();
  setCmp(clint, 0, now + 1000);
  assert.equal(hart.mip & MIP_MTIP, 0);
  assert.equal(clint.poll(), now + 1000);
  setCmp(clint, 0, now);
  assert.equal(hart.mip & MIP_MTIP, MIP_MTIP);
  assert.equal(hart.wakes, 2);
  assert.equal(clint.poll(), Infinity);
  clint.write(L.mtimecmp + 4, 4, 0xffffffff); // the "disable" value Linux and OpenSBI use
  clint.write(L.mtimecmp, 4, 0xffffffff);
  assert.equal(hart.mip & MIP_MTIP, 0);
  assert.equal(clint.read(L.mtimecmp, 4), 0xffffffff);
  assert.equal(clint.read(L.mtimecmp + 4, 4), 0xffffffff);
  assert.equal(clint.poll(), Infinity);

  // With mtime moved ahead by the guest, the deadline is still given on the Clock's scale.
  clint.write(L.mtime, 4, (now + 50_000) % TWO32);
  setCmp(clint, 0, clint.mtime() + 2000);
  const deadline = clint.poll();
  assert.equal(deadline, clock.ticks() + 2000);
  assert.equal(clock.msUntil(deadline), (2000 * 1000) / clock.hz);
});

test("poll() returns the earliest future deadline of all harts and drives each MTIP", () => {
  const clock = new Clock();
  clock.freeze();
  const harts = [new RecordingHart(0), new RecordingHart(1), new RecordingHart(2)];
  const clint = new Clint(clock, harts);
  const now = clint.mtime();
  assert.equal(clint.poll(), Infinity);
  setCmp(clint, 0, now + 300);
  setCmp(clint, 1, now + 200);
  setCmp(clint, 2, now - 1);
  assert.equal(clint.poll(), now + 200);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [0, 0, MIP_MTIP],
  );
});

test("a timer deadline on the real Clock: MTIP rises once mtime passes mtimecmp", async () => {
  const clock = new Clock();
  const hart = new RecordingHart(0);
  const clint = new Clint(clock, [hart]);
  hart.wakes = 0;
  const before = clint.mtime();
  const cmp = before + clock.hz / 500; // 2 ms ahead
  setCmp(clint, 0, cmp);
  const deadline = clint.poll();
  if (hart.mip & MIP_MTIP) {
    // The host was slow enough for the deadline to pass already; then it must really have.
    assert.ok(clint.mtime() >= cmp);
    assert.equal(deadline, Infinity);
  } else {
    assert.equal(deadline, cmp);
  }
  while (clock.ticks() < cmp) await sleep(clock.msUntil(cmp) + 1);
  assert.equal(clint.poll(), Infinity);
  assert.equal(hart.mip & MIP_MTIP, MIP_MTIP);
  assert.equal(hart.wakes, 1);
});
