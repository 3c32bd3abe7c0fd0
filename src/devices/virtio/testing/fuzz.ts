/**
 * Randomized malformed descriptor tables from a fixed seed, for any virtio device. Each case sets the
 * device up through the mock driver, fills one queue's descriptor table (and some indirect tables)
 * with a mix of plausible and hostile descriptors (loops, addresses outside RAM, wrong directions,
 * nested or misshapen indirect tables, heads >= size, avail index jumps), kicks, and checks that:
 * - nothing throws out of the transport;
 * - no byte of guest RAM changed outside the used ring and the buffers marked device-writable;
 * - every published request was completed, or the device set DEVICE_NEEDS_RESET;
 * - every used element names a published head.
 */
import { AssertionError } from "node:assert";
import type { VirtioDevice } from "../device.js";
import type { MmioDevice } from "../../device.js";
import { RAM_BASE, type GuestRam } from "../../../machine/memory.js";
import { VIRTQ_DESC, ringSizes } from "../layout.js";
import { DescFlag, FeatureBit, Status, feature } from "../spec.js";
import { Reg, VirtioMmioTransport } from "../transport-mmio.js";
import { MockDriver, MockIrq, makeRam, type DriverQueue } from "./mock-driver.js";
import { Prng } from "./prng.js";

export interface FuzzTarget {
  device: VirtioDevice;
  /**
   * The transport the mock driver reaches the device through, seen at virtio-mmio's register
   * offsets (default: virtio-mmio itself; pci/testing/driver-view.ts for virtio-pci).
   */
  transport?: (device: VirtioDevice, ram: GuestRam, irq: MockIrq) => MmioDevice & { reset(): void };
  /** Queues whose requests the device completes synchronously on notify. */
  queues: readonly number[];
  /** A plausible request (header and payload) to place in readable buffers. */
  request?: (rng: Prng) => Uint8Array;
}

export interface FuzzResult {
  cases: number;
  needsReset: number;
  completed: number;
}

const DATA_SIZE = 16 * 1024;
const INDIRECT_ENTRIES = 32;
const LENS = [0, 1, 2, 8, 15, 16, 17, 20, 24, 512, 513, 1024, 4096, 8192];

function fail(seed: number, n: number, msg: string): never {
  throw new AssertionError({ message: `fuzz seed ${seed} case ${n}: ${msg}` });
}

function randomDesc(
  rng: Prng,
  ram: GuestRam,
  data: number,
  tables: readonly number[],
  tableSize: number,
): { addr: bigint; len: number; flags: number; next: number } {
  let flags = 0;
  if (rng.chance(0.5)) flags |= DescFlag.NEXT;
  if (rng.chance(0.4)) flags |= DescFlag.WRITE;
  if (rng.chance(0.02)) flags |= 0x80; // an undefined flag bit
  if (rng.chance(0.12)) {
    const t = rng.pick(tables);
    const lens = [INDIRECT_ENTRIES * VIRTQ_DESC.size, 3 * VIRTQ_DESC.size, 0, 17, VIRTQ_DESC.size * 4096];
    return {
      addr: BigInt(rng.chance(0.9) ? t : ram.end - 8),
      len: rng.pick(lens),
      flags: flags | DescFlag.INDIRECT,
      next: rng.int(tableSize),
    };
  }
  const r = rng.int(100);
  const addr =
    r < 75
      ? data + rng.int(DATA_SIZE)
      : r < 82
        ? ram.end - rng.int(64)
        : r < 88
          ? RAM_BASE - 1 - rng.int(4096)
          : r < 94
            ? 0
            : r < 97
              ? 2 ** 63
              : ram.base + rng.int(ram.size);
  const len = rng.chance(0.8) ? rng.pick(LENS) : rng.u32();
  const next = rng.chance(0.85) ? rng.int(tableSize) : rng.int(0x10000);
  return { addr: BigInt(addr), len, flags, next };
}

function writableRanges(ram: GuestRam, table: number, entries: number, out: [number, number][]): void {
  for (let i = 0; i < entries; i++) {
    const at = table + VIRTQ_DESC.size * i;
    const flags = ram.readU16(at + VIRTQ_DESC.fields.flags.offset);
    if (!(flags & DescFlag.WRITE)) continue;
    const addr = Number(ram.readU64(at));
    const len = ram.readU32(at + VIRTQ_DESC.fields.len.offset);
    out.push([addr, addr + len]);
  }
}

/** Run `cases` randomized cases against `target.device`; throws an AssertionError on the first violation. */
export function fuzzDevice(target: FuzzTarget, seed: number, cases: number): FuzzResult {
  const rng = new Prng(seed);
  const ram = makeRam(256 * 1024);
  const irq = new MockIrq();
  const transport = target.transport
    ? target.transport(target.device, ram, irq)
    : new VirtioMmioTransport({ device: target.device, memory: ram, irq, irqNumber: 1 });
  const result: FuzzResult = { cases, needsReset: 0, completed: 0 };
  const deviceBits = target.device.features;
  for (let n = 0; n < cases; n++) {
    ram.u8.fill(0);
    const driver = new MockDriver(ram, transport, irq);
    let want = feature(FeatureBit.VERSION_1) | (deviceBits & BigInt(rng.u32()));
    if (rng.chance(0.7)) want |= feature(FeatureBit.RING_INDIRECT_DESC);
    if (rng.chance(0.5)) want |= feature(FeatureBit.RING_EVENT_IDX);
    const qi = rng.pick(target.queues);
    const max = target.device.queueMaxSizes[qi] ?? 0;
    const sizes = target.device.queueMaxSizes.map((m) => Math.min(m, 1 << rng.int(5)));
    if (rng.chance(0.03)) sizes[qi] = rng.pick([0, 3, max * 2, 100]);
    try {
      driver.init({ want, sizes });
    } catch (e) {
      fail(seed, n, `init threw ${String(e)}`);
    }
    const q: DriverQueue | undefined = driver.queues[qi];
    if (!q || driver.status & Status.DEVICE_NEEDS_RESET) {
      if (!(driver.status & Status.DEVICE_NEEDS_RESET)) fail(seed, n, "bad queue size accepted");
      result.needsReset++;
      continue;
    }
    const data = driver.alloc(DATA_SIZE, 16);
    ram.write(data, rng.bytes(DATA_SIZE));
    const tables = [driver.alloc(INDIRECT_ENTRIES * VIRTQ_DESC.size), driver.alloc(INDIRECT_ENTRIES * VIRTQ_DESC.size)];
    for (const t of tables)
      for (let i = 0; i < INDIRECT_ENTRIES; i++)
        driver.writeDesc(t, i, randomDesc(rng, ram, data, tables, INDIRECT_ENTRIES));
    for (let i = 0; i < q.size; i++) driver.writeDesc(q.desc, i, randomDesc(rng, ram, data, tables, q.size));
    // Plausible request headers at the start of some readable buffers make the device parse further.
    if (target.request) {
      for (let i = 0; i < 4; i++) {
        const req = target.request(rng);
        const at = data + rng.int(DATA_SIZE - req.length);
        ram.write(at, req);
        driver.writeDesc(q.desc, rng.int(q.size), {
          addr: at,
          len: rng.chance(0.7) ? 16 : req.length,
          flags: DescFlag.NEXT,
          next: rng.int(q.size),
        });
      }
    }
    const heads: number[] = [];
    for (let k = 1 + rng.int(4); k > 0; k--) {
      const head = rng.chance(0.93) ? rng.int(q.size) : rng.int(0x10000);
      heads.push(head);
      driver.publish(q, head);
    }
    if (rng.chance(0.03)) ram.writeU16(q.avail + 2, rng.int(0x10000));
    if (rng.chance(0.2)) ram.writeU16(q.avail, 1); // VRING_AVAIL_F_NO_INTERRUPT
    ram.writeU16(q.avail + ringSizes(q.size).avail - 2, rng.int(0x10000)); // used_event

    const allowed: [number, number][] = [[q.used, q.used + ringSizes(q.size).used]];
    writableRanges(ram, q.desc, q.size, allowed);
    for (const t of tables) writableRanges(ram, t, INDIRECT_ENTRIES, allowed);
    const before = ram.u8.slice();
    try {
      driver.setReg(Reg.QUEUE_NOTIFY, qi);
    } catch (e) {
      fail(seed, n, `notify threw ${e instanceof Error ? e.stack : String(e)}`);
    }
    for (let page = 0; page < before.length; page += 4096) {
      if (Buffer.compare(before.subarray(page, page + 4096), ram.u8.subarray(page, page + 4096)) === 0) continue;
      for (let i = page; i < page + 4096; i++) {
        if (before[i] === ram.u8[i]) continue;
        const gpa = ram.base + i;
        if (!allowed.some(([a, b]) => gpa >= a && gpa < b))
          fail(seed, n, `device wrote guest byte 0x${gpa.toString(16)} outside the chain's buffers`);
      }
    }
    if (driver.status & Status.DEVICE_NEEDS_RESET) {
      result.needsReset++;
      continue;
    }
    const used = driver.reap(qi);
    if (used.length !== heads.length)
      fail(seed, n, `${heads.length} requests published, ${used.length} completed, no DEVICE_NEEDS_RESET`);
    used.forEach((u, i) => {
      if (u.id !== heads[i]) fail(seed, n, `used element ${i} names ${u.id}, expected ${heads[i]}`);
    });
    result.completed++;
  }
  transport.reset();
  return result;
}
