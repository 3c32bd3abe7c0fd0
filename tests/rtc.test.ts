// Issue 14 item 12: the guest has a wall clock. Debian's kernel (CONFIG_RTC_DRV_GOLDFISH=y,
// CONFIG_RTC_HCTOSYS=y) finds the Goldfish RTC in the device tree and sets the system time from
// it at boot, so `date` in a real guest tells the host's date; the guest can set its RTC.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runGuestCommand } from "../src/api/guest-command.js";

test("date in a real guest prints the current year; the guest can set its own RTC", async () => {
  const before = new Date().getUTCFullYear();
  const hostBefore = Date.now();
  const r = await runGuestCommand(
    "date -u +%Y; date -u +%s; cat /sys/class/rtc/rtc0/name; date -u -s @86400 >/dev/null; hwclock -u -w; hwclock -u -r",
  );
  const after = new Date().getUTCFullYear();
  assert.equal(r.status, 0, r.output);
  const [year, seconds, rtcName, hwclock] = r.output.trim().split("\n");
  assert.ok(year === String(before) || year === String(after), `the guest says ${year}:\n${r.output}`);
  // The guest read the host's time at boot: it lies between the test's start and now.
  const guestMs = Number(seconds) * 1000;
  assert.ok(guestMs >= hostBefore - 1000 && guestMs <= Date.now() + 1000, `guest time ${seconds}`);
  assert.equal(rtcName, "goldfish_rtc 101000.rtc");
  // The guest set its RTC to 1970 (through the driver's TIME writes) and reads that back; that
  // the host's clock is only read, never set, is the device's unit test (goldfish-rtc.test.ts).
  assert.match(hwclock!, /^Fri Jan\s+2 00:00:0\d 1970/);
});
