import type { DtContext, MmioDevice, MmioSize } from "./device.js";
import { DeviceError } from "./errors.js";

/** One device's window on the bus: [base, end). */
interface Mapping {
  readonly base: number;
  readonly end: number;
  readonly dev: MmioDevice;
}

/**
 * The physical address decoder for device registers: the CPU's slow path comes here for every
 * load or store that misses RAM. An address no device decodes gives `undefined` (reads) or
 * `false` (writes) so the CPU raises a load/store access fault (RISC-V privileged spec 3.7.1:
 * accesses to regions that do not support them fault).
 *
 * The board has a handful of devices, so lookup is a last-hit check (MMIO comes in bursts to the
 * same device: an 8250 driver polls LSR, then writes THR) and a binary search over the windows
 * sorted by base.
 */
export class MmioBus {
  private readonly maps: Mapping[] = [];
  /** Devices in the order they were mapped, for teardown. */
  private readonly mapped: MmioDevice[] = [];
  private last: Mapping | undefined;

  /** Decode `dev.size` bytes starting at `base` to `dev`. Refuses windows that overlap. */
  map(base: number, dev: MmioDevice): void {
    const end = base + dev.size;
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(dev.size) || dev.size <= 0) {
      throw new DeviceError(
        "MMIO_BAD_RANGE",
        `device ${dev.name} cannot be mapped at 0x${base.toString(16)} with size ${dev.size}: ` +
          "use a non-negative integer base and a positive integer size",
      );
    }
    const i = this.insertionIndex(base);
    const before = this.maps[i - 1];
    const after = this.maps[i];
    const clash =
      before !== undefined && before.end > base ? before : after !== undefined && after.base < end ? after : undefined;
    if (clash !== undefined) {
      throw new DeviceError(
        "MMIO_OVERLAP",
        `device ${dev.name} at [0x${base.toString(16)}, 0x${end.toString(16)}) overlaps ${clash.dev.name} at ` +
          `[0x${clash.base.toString(16)}, 0x${clash.end.toString(16)}): give one of them another base address`,
      );
    }
    this.maps.splice(i, 0, { base, end, dev });
    this.mapped.push(dev);
  }

  /** The device decoding `addr`, and its base, or undefined. */
  find(addr: number): { dev: MmioDevice; base: number } | undefined {
    return this.lookup(addr, 1);
  }

  /** Every mapped device, by ascending base. */
  devices(): MmioDevice[] {
    return this.maps.map((m) => m.dev);
  }

  /** Load `size` bytes; undefined if no single device decodes all of [addr, addr+size). */
  read(addr: number, size: MmioSize): number | undefined {
    const m = this.lookup(addr, size);
    return m === undefined ? undefined : m.dev.read(addr - m.base, size);
  }

  /** Store the low `size` bytes of `value`; false if no single device decodes the range. */
  write(addr: number, size: MmioSize, value: number): boolean {
    const m = this.lookup(addr, size);
    if (m === undefined) return false;
    m.dev.write(addr - m.base, size, value);
    return true;
  }

  /**
   * An 8-byte load as devices see it (device.ts): two 4-byte reads, low word first. A JS number
   * cannot hold 64 bits exactly, hence the bigint.
   */
  read64(addr: number): bigint | undefined {
    const m = this.lookup(addr, 8);
    if (m === undefined) return undefined;
    const off = addr - m.base;
    const lo = m.dev.read(off, 4) >>> 0;
    const hi = m.dev.read(off + 4, 4) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** An 8-byte store: the low word is written first, then the high word. */
  write64(addr: number, value: bigint): boolean {
    const m = this.lookup(addr, 8);
    if (m === undefined) return false;
    const off = addr - m.base;
    m.dev.write(off, 4, Number(BigInt.asUintN(32, value)));
    m.dev.write(off + 4, 4, Number(BigInt.asUintN(32, value >> 32n)));
    return true;
  }

  /**
   * Release every device's host resources, in reverse order of mapping (teardown mirrors setup).
   * One that fails (a disk whose last writes could not be stored) does not keep the others open:
   * the first error is thrown once all are closed.
   */
  close(): void {
    let failure: unknown;
    for (let i = this.mapped.length - 1; i >= 0; i--) {
      try {
        this.mapped[i]?.close?.();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  private lookup(addr: number, len: number): Mapping | undefined {
    const last = this.last;
    if (last !== undefined && addr >= last.base && addr + len <= last.end) return last;
    const m = this.maps[this.insertionIndex(addr + 1) - 1];
    if (m === undefined || addr < m.base || addr + len > m.end) return undefined;
    this.last = m;
    return m;
  }

  /** Index of the first mapping whose base is >= `addr` (binary search over sorted bases). */
  private insertionIndex(addr: number): number {
    let lo = 0;
    let hi = this.maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.maps[mid] as Mapping).base < addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The `size` bytes at byte `offset & 3` of a 32-bit little-endian register: what a narrower load
 * of a word-wide register returns (the CLINT and PLIC registers are 32 bits wide).
 */
export function narrowRead(word: number, offset: number, size: MmioSize): number {
  if (size === 4) return word >>> 0;
  const shifted = word >>> ((offset & 3) * 8);
  return size === 1 ? shifted & 0xff : shifted & 0xffff;
}

/**
 * A device whose registers are all 32 bits wide: the CLINT (ACLINT spec, sections 2 and 3) and
 * the PLIC (PLIC spec, "Memory Map"). A narrower load returns its bytes of the word; a store that
 * is not one whole aligned word is ignored, as QEMU's CLINT and PLIC refuse them. Subclasses see
 * only word-aligned offsets and unsigned 32-bit values.
 */
export abstract class WordRegisterDevice implements MmioDevice {
  abstract readonly name: string;
  abstract readonly size: number;

  read(offset: number, size: MmioSize): number {
    return narrowRead(this.read32(offset & ~3), offset, size);
  }

  write(offset: number, size: MmioSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    this.write32(offset, value >>> 0);
  }

  protected abstract read32(offset: number): number;
  protected abstract write32(offset: number, value: number): void;
}

/**
 * `interrupts-extended` cells for a device wired to every hart's local interrupt controller:
 * for each of the first `harts` harts, its cpu-intc phandle with each mip bit number in `bits`.
 */
export function hartInterrupts(ctx: DtContext, harts: number, bits: readonly number[]): number[] {
  const cells: number[] = [];
  for (let h = 0; h < harts; h++) {
    const intc = intcPhandle(ctx, h);
    for (const bit of bits) cells.push(intc, bit);
  }
  return cells;
}

/** phandle of hart h's "riscv,cpu-intc" node. */
export function intcPhandle(ctx: DtContext, h: number): number {
  const p = ctx.cpuIntcPhandles[h];
  if (p === undefined) throw new RangeError(`no cpu interrupt-controller phandle for hart ${h}`);
  return p;
}

/** `reg` for a node under QEMU virt's /soc, where #address-cells = #size-cells = 2. */
export function regCells(base: number, size: number): number[] {
  return [
    Math.floor(base / 0x1_0000_0000),
    base % 0x1_0000_0000,
    Math.floor(size / 0x1_0000_0000),
    size % 0x1_0000_0000,
  ];
}
