// Issue 18 item 5: the token buckets, on a clock the test moves, and the disk and NIC that obey
// them through the mock driver: what the limit holds back stays in the ring until tokens come.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RateLimiter } from "./rate-limit.js";
import { RawDisk } from "../../disk/raw.js";
import { blkHeader, blkRig } from "./testing/blk-driver.js";
import { BlkStatus } from "./blk.js";
import { parseLimitText, takeLimitOptions } from "../kinds/limit.js";

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test("a bandwidth bucket lets its burst through, then one request at the rate, in debt", () => {
  const c = clock();
  const l = new RateLimiter({ bandwidth: 1000, burst: 500 }, c.now);
  assert.equal(l.wait(), 0);
  l.charge(400); // 100 left
  assert.equal(l.wait(), 0);
  l.charge(700); // 600 in debt: 600 ms at 1000 B/s
  assert.equal(l.wait(), 600);
  c.advance(599);
  assert.equal(l.wait(), 1);
  c.advance(1);
  assert.equal(l.wait(), 0, "out of debt after exactly the time the rate needs");
  c.advance(10_000);
  l.charge(500);
  assert.equal(l.wait(), 0);
  l.charge(1);
  assert.equal(l.wait(), 1, "a quiet spell refills to the burst, never beyond");
  assert.deepEqual(l.stats, { bytes: 1601, ops: 4, throttled: 3 });
});

test("an ops bucket counts requests whatever their size; both buckets must be out of debt", () => {
  const c = clock();
  const l = new RateLimiter({ ops: 10, bandwidth: 1 << 20 }, c.now);
  l.charge(0); // the burst of 10 ops/s is one op
  assert.equal(l.wait(), 100);
  c.advance(100);
  assert.equal(l.wait(), 0);
  l.set(undefined);
  assert.equal(l.active, false);
  for (let i = 0; i < 1000; i++) l.charge(1 << 30);
  assert.equal(l.wait(), 0, "unlimited: never waits");
});

test("virtio-blk: requests beyond the limit stay in the ring until a new limit lets them go", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "corral-rl-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "d.img");
  writeFileSync(path, Buffer.alloc(1 << 20, 7));
  const rig = blkRig(RawDisk.open(path), { limit: { ops: 1, opsBurst: 1 } });
  t.after(() => rig.transport.close());
  const heads = [0, 1, 2].map((i) => rig.drv.add(0, [blkHeader(0, i)], [512, 1]).head);
  rig.drv.kick(0);
  const first = rig.drv.reap(0);
  assert.deepEqual(
    first.map((u) => u.id),
    [heads[0]],
    "one request per second: the first goes, the others wait",
  );
  rig.drv.kick(0); // a guest that kicks again changes nothing while the queue waits
  assert.equal(rig.drv.reap(0).length, 0);
  assert.ok(rig.blk.limiter.stats.throttled > 0);
  rig.blk.setLimit(undefined);
  assert.deepEqual(
    rig.drv.reap(0).map((u) => u.id),
    heads.slice(1),
    "without limits the waiting requests are served at once, in order",
  );
  assert.equal(rig.read(5, 1).status, BlkStatus.OK);
  assert.equal(rig.blk.limiter.stats.ops, 4);
  assert.equal(rig.blk.limiter.stats.bytes, 4 * 512);
});

test("limit options: taken out of --disk and --net arguments; one size syntax; bad ones refused", () => {
  assert.deepEqual(takeLimitOptions("a,b.img,bw=50M,ro,iops=1000", "blk", "--disk"), {
    rest: "a,b.img,ro",
    limit: { bandwidth: 50 * 2 ** 20, ops: 1000 },
  });
  assert.deepEqual(takeLimitOptions("switch:lan,mac=52:54:00:00:00:01", "net", "--net"), {
    rest: "switch:lan,mac=52:54:00:00:00:01",
    limit: undefined,
  });
  assert.deepEqual(parseLimitText("bw=10,pps=5000,burst=1M", "net", "x"), {
    bandwidth: 10 * 2 ** 20,
    ops: 5000,
    burst: 2 ** 20,
  });
  assert.equal(parseLimitText("off", "blk", "x"), undefined);
  assert.throws(() => takeLimitOptions("img,pps=5", "blk", "--disk"), /pps is not a limit of a disk: use iops=N/);
  assert.throws(() => takeLimitOptions("img,bw=-5M", "blk", "--disk"), /bw '-5M' is negative/);
  assert.throws(() => parseLimitText("iops=0", "blk", "x"), /more than 0/);
  assert.throws(() => parseLimitText("fast", "blk", "x"), /'fast' is not a limit/);
});
