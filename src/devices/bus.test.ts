import { test } from "node:test";
import assert from "node:assert/strict";
import { isCorralError } from "../errors.js";
import { Clock } from "../machine/clock.js";
import { hartInterrupts, MmioBus, narrowRead, regCells, WordRegisterDevice } from "./bus.js";
import { Clint, CLINT_LAYOUT } from "./clint.js";
import type { InterruptTarget, MmioDevice, MmioSize } from "./device.js";
import { SifiveTest } from "./sifive-test.js";

/** Records every access it sees; reads return the offset so routing is visible. */
class Recorder implements MmioDevice {
  readonly log: string[] = [];
  constructor(
    readonly name: string,
    readonly size: number,
  ) {}
  read(offset: number, size: MmioSize): number {
    this.log.push(`r${size}@${offset.toString(16)}`);
    return 0xa0000000 + offset;
  }
  write(offset: number, size: MmioSize, value: number): void {
    this.log.push(`w${size}@${offset.toString(16)}=${value.toString(16)}`);
  }
  close(): void {
    closed.push(this.name);
  }
}
const closed: string[] = [];

const hart: InterruptTarget = { hartId: 0, setPending: () => {}, wake: () => {} };

test("routes accesses to the device decoding them, with offsets relative to its base", () => {
  const bus = new MmioBus();
  const a = new Recorder("a", 0x1000);
  const b = new Recorder("b", 0x100);
  bus.map(0x10000000, b);
  bus.map(0x100000, a);
  assert.equal(bus.read(0x100010, 4), 0xa0000010);
  assert.equal(bus.write(0x100ffc, 4, 0x1234), true);
  assert.equal(bus.write(0x10000005, 1, 0x41), true);
  assert.deepEqual(a.log, ["r4@10", "w4@ffc=1234"]);
  assert.deepEqual(b.log, ["w1@5=41"]);
  assert.equal(bus.find(0x100fff)?.dev, a);
  assert.equal(bus.find(0x100fff)?.base, 0x100000);
  assert.equal(bus.find(0x10000000)?.dev, b);
  assert.deepEqual(bus.devices(), [a, b]);
});

test("unmapped addresses and accesses crossing a device's end fail so the CPU can fault", () => {
  const bus = new MmioBus();
  const a = new Recorder("a", 0x100);
  bus.map(0x1000, a);
  assert.equal(bus.find(0xfff), undefined);
  assert.equal(bus.find(0x1100), undefined);
  assert.equal(bus.read(0x2000, 4), undefined);
  assert.equal(bus.write(0x0, 1, 0), false);
  assert.equal(bus.read(0x10fe, 4), undefined); // last 2 bytes in, 2 out
  assert.equal(bus.read64(0x10fc), undefined);
  assert.equal(bus.write64(0x10fc, 1n), false);
  assert.equal(bus.read(0x10fc, 4), 0xa00000fc); // the same word, entirely inside
  assert.deepEqual(a.log, ["r4@fc"]);
});

test("refuses overlapping windows and nonsense ranges with stable error codes", () => {
  const bus = new MmioBus();
  bus.map(0x2000, new Recorder("mid", 0x1000));
  const codeOf = (f: () => void): string | undefined => {
    try {
      f();
    } catch (e) {
      return isCorralError(e) ? e.code : "not a CorralError";
    }
    return undefined;
  };
  assert.equal(
    codeOf(() => bus.map(0x1800, new Recorder("below", 0x900))),
    "MMIO_OVERLAP",
  );
  assert.equal(
    codeOf(() => bus.map(0x2fff, new Recorder("above", 0x10))),
    "MMIO_OVERLAP",
  );
  assert.equal(
    codeOf(() => bus.map(0x2100, new Recorder("inside", 0x10))),
    "MMIO_OVERLAP",
  );
  assert.equal(
    codeOf(() => bus.map(0x1000, new Recorder("around", 0x3000))),
    "MMIO_OVERLAP",
  );
  assert.equal(
    codeOf(() => bus.map(-4, new Recorder("neg", 4))),
    "MMIO_BAD_RANGE",
  );
  assert.equal(
    codeOf(() => bus.map(0x9000, new Recorder("empty", 0))),
    "MMIO_BAD_RANGE",
  );
  // Touching neighbours are fine.
  bus.map(0x1000, new Recorder("left", 0x1000));
  bus.map(0x3000, new Recorder("right", 0x1000));
  assert.deepEqual(
    bus.devices().map((d) => d.name),
    ["left", "mid", "right"],
  );
  assert.match(
    (() => {
      try {
        bus.map(0x3800, new Recorder("x", 4));
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })(),
    /x at \[0x3800, 0x3804\) overlaps right at \[0x3000, 0x4000\)/,
  );
});

test("8-byte accesses reach devices as two 4-byte accesses, low word first", () => {
  const bus = new MmioBus();
  const a = new Recorder("a", 0x100);
  bus.map(0x4000, a);
  assert.equal(bus.write64(0x4008, 0x1122334455667788n), true);
  assert.equal(bus.read64(0x4010), (0xa0000014n << 32n) | 0xa0000010n);
  assert.deepEqual(a.log, ["w4@8=55667788", "w4@c=11223344", "r4@10", "r4@14"]);
});

test("a 64-bit register round-trips through read64/write64 (CLINT mtimecmp)", () => {
  const bus = new MmioBus();
  const clock = new Clock();
  clock.freeze();
  bus.map(0x2000000, new Clint(clock, [hart]));
  const reg = 0x2000000 + CLINT_LAYOUT.mtimecmp;
  assert.equal(bus.read64(reg), 0n);
  assert.equal(bus.write64(reg, 0xfedcba9876543210n), true);
  assert.equal(bus.read64(reg), 0xfedcba9876543210n);
  assert.equal(bus.read(reg + 4, 4), 0xfedcba98);
});

test("the last-hit cache never serves an address outside the cached device", () => {
  const bus = new MmioBus();
  const a = new Recorder("a", 0x10);
  const b = new Recorder("b", 0x10);
  bus.map(0x0, a);
  bus.map(0x10, b);
  for (const addr of [0x0, 0xf, 0x10, 0x1f, 0x0, 0x20]) bus.read(addr, 1);
  assert.deepEqual(a.log, ["r1@0", "r1@f", "r1@0"]);
  assert.deepEqual(b.log, ["r1@0", "r1@f"]);
});

test("close() releases devices in reverse order of mapping", () => {
  closed.length = 0;
  const bus = new MmioBus();
  bus.map(0x3000, new Recorder("first", 0x10));
  bus.map(0x1000, new Recorder("second", 0x10));
  bus.map(0x2000, new SifiveTest(() => {})); // no close(): skipped
  bus.close();
  assert.deepEqual(closed, ["second", "first"]);
});

test("close() closes every device when one of them fails, then throws the failure", () => {
  closed.length = 0;
  const bus = new MmioBus();
  const failing = new Recorder("failing", 0x10);
  failing.close = () => {
    closed.push("failing");
    throw new Error("last writes lost");
  };
  bus.map(0x1000, new Recorder("first", 0x10));
  bus.map(0x2000, failing);
  bus.map(0x3000, new Recorder("last", 0x10));
  assert.throws(() => bus.close(), /last writes lost/);
  assert.deepEqual(closed, ["last", "failing", "first"]);
});

test("narrowRead picks little-endian byte lanes; regCells splits 64-bit base and size", () => {
  assert.equal(narrowRead(0x11223344, 0, 1), 0x44);
  assert.equal(narrowRead(0x11223344, 3, 1), 0x11);
  assert.equal(narrowRead(0x11223344, 2, 2), 0x1122);
  assert.equal(narrowRead(0xffffffff | 0, 0, 4), 0xffffffff);
  assert.deepEqual(regCells(0x4_0000_1000, 0x1_0000_0000), [4, 0x1000, 1, 0]);
});

/** Two word registers; records the word writes it is given. */
class Words extends WordRegisterDevice {
  readonly name = "words";
  readonly size = 8;
  readonly regs = [0x11223344, 0xaabbccdd];
  readonly writes: string[] = [];
  protected read32(offset: number): number {
    return this.regs[offset >>> 2] ?? 0;
  }
  protected write32(offset: number, value: number): void {
    this.writes.push(`${offset}=${value.toString(16)}`);
  }
}

test("WordRegisterDevice: narrow loads take their lanes of the word; only whole aligned words are stored", () => {
  const d = new Words();
  assert.equal(d.read(4, 4), 0xaabbccdd);
  assert.equal(d.read(5, 1), 0xcc);
  assert.equal(d.read(6, 2), 0xaabb);
  d.write(4, 4, -1);
  d.write(4, 2, 1);
  d.write(5, 1, 1);
  d.write(2, 4, 1);
  assert.deepEqual(
    d.writes,
    ["4=ffffffff"],
    "the store of -1 arrives unsigned; narrow and misaligned ones are ignored",
  );
});

test("hartInterrupts: each hart's cpu-intc phandle with each mip bit, hart by hart", () => {
  const ctx = { irqParent: 1, irqCells: (n: number) => [n], cpuIntcPhandles: [10, 20], timebaseHz: 1 };
  assert.deepEqual(hartInterrupts(ctx, 2, [3, 7]), [10, 3, 10, 7, 20, 3, 20, 7]);
  assert.throws(() => hartInterrupts(ctx, 3, [9]), RangeError);
});
