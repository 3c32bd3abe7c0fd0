// The Goldfish RTC's registers as Linux's drivers/rtc/rtc-goldfish.c uses them, against a host
// clock the test controls, and its alarm as an interrupt on the machine's clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Clock } from "../machine/clock.js";
import type { IrqLine } from "./device.js";
import { GOLDFISH_RTC as R, GoldfishRtc } from "./goldfish-rtc.js";

const TWO32 = 2n ** 32n;
/** 2026-12-06T00:00:00Z in ns: above 2^32, so both words matter. */
const T0 = 1_796_515_200n * 1_000_000_000n;

function setup(): { rtc: GoldfishRtc; host: { ns: bigint }; line: { level: boolean }; clock: Clock } {
  const host = { ns: T0 };
  const line = { level: false };
  const irq: IrqLine = { set: (l) => (line.level = l) };
  const clock = new Clock();
  clock.freeze(); // deadlines in ticks are then exact
  const rtc = new GoldfishRtc({ clock, irq, irqSource: 11, wallNs: () => host.ns });
  return { rtc, host, line, clock };
}

/** The driver's read_time: TIME_LOW first (it latches the high word), then TIME_HIGH. */
function readTime(rtc: GoldfishRtc): bigint {
  const lo = BigInt(rtc.read(R.timeLow, 4));
  return BigInt(rtc.read(R.timeHigh, 4)) * TWO32 + lo;
}

/** The driver's 64-bit writes: the high word first, then the low one. */
function write64(rtc: GoldfishRtc, lowReg: number, v: bigint): void {
  rtc.write(lowReg + 4, 4, Number(v / TWO32));
  rtc.write(lowReg, 4, Number(v % TWO32));
}

test("layout: the registers where QEMU and Linux have them", () => {
  assert.deepEqual(
    [
      R.timeLow,
      R.timeHigh,
      R.alarmLow,
      R.alarmHigh,
      R.irqEnabled,
      R.clearAlarm,
      R.alarmStatus,
      R.clearInterrupt,
      R.size,
    ],
    [0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x1000],
  );
});

test("TIME reads the host's time in ns; TIME_HIGH is the word latched by the TIME_LOW read", () => {
  const { rtc, host } = setup();
  assert.equal(readTime(rtc), T0);
  // The high word comes from the TIME_LOW read, even if the time carries into it before TIME_HIGH.
  host.ns = T0 | (TWO32 - 1n);
  const lo = rtc.read(R.timeLow, 4);
  host.ns += 1n;
  assert.equal(BigInt(rtc.read(R.timeHigh, 4)) * TWO32 + BigInt(lo), T0 | (TWO32 - 1n));
});

test("a guest write to TIME sets the guest's time only: the offset moves, the host clock is read, never set", () => {
  const { rtc, host } = setup();
  const guest = T0 - 3600n * 1_000_000_000n;
  write64(rtc, R.timeLow, guest);
  assert.equal(readTime(rtc), guest);
  host.ns += 5_000_000_000n;
  assert.equal(readTime(rtc), guest + 5_000_000_000n, "the guest's clock runs on with the host's");
  assert.equal(host.ns, T0 + 5_000_000_000n);
  // Another RTC on the same host clock still reads the host's time.
  const other = new GoldfishRtc({ clock: new Clock(), irq: { set: () => {} }, irqSource: 11, wallNs: () => host.ns });
  assert.equal(readTime(other), host.ns);
});

test("no alarm armed: the machine is given no deadline, so an idle guest sleeps", () => {
  const { rtc } = setup();
  assert.equal(rtc.poll(), Infinity);
  assert.equal(rtc.read(R.alarmStatus, 4), 0);
});

test("an alarm: armed by ALARM_LOW, a deadline on the machine's clock, the interrupt when it fires, CLEAR_INTERRUPT lowers it", () => {
  const { rtc, host, line, clock } = setup();
  rtc.write(R.irqEnabled, 4, 1);
  write64(rtc, R.alarmLow, T0 + 2_000_000_000n);
  assert.equal(rtc.read(R.alarmStatus, 4), 1);
  assert.equal(BigInt(rtc.read(R.alarmHigh, 4)) * TWO32 + BigInt(rtc.read(R.alarmLow, 4)), T0 + 2_000_000_000n);
  // Two seconds of the machine's clock from now.
  assert.equal(rtc.poll(), clock.ticks() + 2 * clock.hz);
  assert.equal(line.level, false);
  host.ns = T0 + 2_000_000_000n;
  assert.equal(rtc.poll(), Infinity);
  assert.equal(line.level, true);
  assert.equal(rtc.read(R.alarmStatus, 4), 0, "a fired alarm is no longer armed");
  rtc.write(R.clearInterrupt, 4, 1);
  assert.equal(line.level, false);
});

test("an alarm already due fires when written; with IRQ_ENABLED off it waits, pending, until enabled", () => {
  const { rtc, line } = setup();
  write64(rtc, R.alarmLow, T0 - 1n);
  assert.equal(rtc.read(R.alarmStatus, 4), 0);
  assert.equal(line.level, false, "interrupt not enabled");
  rtc.write(R.irqEnabled, 4, 1);
  assert.equal(rtc.read(R.irqEnabled, 4), 1);
  assert.equal(line.level, true);
  rtc.write(R.irqEnabled, 4, 0);
  assert.equal(line.level, false);
});

test("CLEAR_ALARM disarms an armed alarm: it never fires", () => {
  const { rtc, host, line } = setup();
  rtc.write(R.irqEnabled, 4, 1);
  write64(rtc, R.alarmLow, T0 + 1000n);
  rtc.write(R.clearAlarm, 4, 1);
  assert.equal(rtc.read(R.alarmStatus, 4), 0);
  host.ns += 2000n;
  assert.equal(rtc.poll(), Infinity);
  assert.equal(line.level, false);
});

test("the alarm follows the guest's time, offset included", () => {
  const { rtc, host, line } = setup();
  write64(rtc, R.timeLow, 1000n * 1_000_000_000n); // the guest says it is 1970
  rtc.write(R.irqEnabled, 4, 1);
  write64(rtc, R.alarmLow, 1001n * 1_000_000_000n);
  rtc.poll();
  assert.equal(line.level, false);
  host.ns += 1_000_000_000n;
  rtc.poll();
  assert.equal(line.level, true);
});
