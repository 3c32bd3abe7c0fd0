// Subnet parsing, allocation and the pool lock (real files, concurrent callers).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { CorralError } from "../../errors.js";
import { allocate, parseSubnet, readPool, withLock, writePool, type Pool } from "./ipam.js";

test("subnets: canonical form, gateway, and clear refusals", () => {
  assert.deepEqual(parseSubnet("172.31.200.0/24"), {
    cidr: "172.31.200.0/24",
    network: 0xac1fc800,
    prefix: 24,
    gateway: "172.31.200.1",
  });
  for (const bad of ["172.31.200.1/24", "300.1.1.0/24", "10.0.0.0/31", "10.0.0.0", "x"]) {
    assert.throws(
      () => parseSubnet(bad),
      (e: unknown) => e instanceof CorralError && e.code === "NET_SUBNET_INVALID",
    );
  }
});

test("allocation takes the lowest free address, skips gateway and broadcast, and is stable per id", () => {
  const s = parseSubnet("10.1.2.0/29"); // hosts .1 (gateway) to .6, broadcast .7
  const pool: Pool = { subnet: s.cidr, leases: {} };
  const got = ["a", "b", "c", "d", "e"].map((id) => allocate(pool, s, id));
  assert.deepEqual(got, ["10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"]);
  assert.equal(allocate(pool, s, "c"), "10.1.2.4");
  assert.throws(
    () => allocate(pool, s, "f"),
    (e: unknown) => e instanceof CorralError && e.code === "NET_POOL_EXHAUSTED",
  );
  delete pool.leases["b"];
  assert.equal(allocate(pool, s, "g"), "10.1.2.3");
});

test("the lock serialises concurrent read-modify-write of a pool file; stale locks are broken", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-ipam-"));
  try {
    const file = join(dir, "p.json");
    const s = parseSubnet("10.9.0.0/24");
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    await Promise.all(
      ids.map((id) =>
        withLock(dir, "p", async () => {
          const pool = readPool(file) ?? { subnet: s.cidr, leases: {} };
          await sleep(1); // widen the window a missing lock would lose updates in
          allocate(pool, s, id);
          writePool(file, pool);
        }),
      ),
    );
    const pool = JSON.parse(readFileSync(file, "utf8")) as Pool;
    assert.equal(Object.keys(pool.leases).length, 20);
    assert.equal(new Set(Object.values(pool.leases)).size, 20);
    writeFileSync(join(dir, "q.lock"), "999999999"); // a dead holder
    assert.equal(await withLock(dir, "q", async () => "got it"), "got it");
    writePool(file, { subnet: s.cidr, leases: {} });
    assert.equal(readPool(file), undefined, "an empty pool leaves no file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
