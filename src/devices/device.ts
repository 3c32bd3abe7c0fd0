/**
 * The one interface every memory-mapped device implements (kvmtool's device ops, Firecracker's
 * BusDevice). The bus hands a device offsets relative to its base; 8-byte guest accesses are split
 * by the bus into two 4-byte accesses, low word first, so devices only see sizes 1, 2 and 4.
 */
export type MmioSize = 1 | 2 | 4;

export interface MmioDevice {
  /** Short name used in logs and errors, e.g. "uart0". */
  readonly name: string;
  /** Bytes of address space the device decodes, starting at its base. */
  readonly size: number;
  /** Read `size` bytes at `offset`; returns the value zero-extended (unsigned). */
  read(offset: number, size: MmioSize): number;
  /** Write the low `size` bytes of `value` at `offset`. */
  write(offset: number, size: MmioSize, value: number): void;
  /** The device-tree node describing this device at `base` (see machine/devicetree.ts). */
  describe?(base: number, ctx: DtContext): DtNode;
  /** Release host resources (files, sockets, timers). Called once, in reverse creation order. */
  close?(): void;
}

/** A level-triggered interrupt input, e.g. one PLIC source. */
export interface IrqLine {
  set(level: boolean): void;
}

/**
 * The board's controller of wired interrupts, which every device with an interrupt line is
 * given a line of: the PLIC (sources 1..95), or with --irqchip aia the M-level APLIC domain
 * (sources 1..96), which passes each source on to the S-level domain it is delegated to.
 */
export interface WiredIrqController {
  irq(source: number): IrqLine;
}

/**
 * Where interrupt controllers deliver to: a hart's `mip` register. `mask` is one or more mip bits
 * (RISC-V privileged spec, 3.1.9: MSIP=1<<3, MTIP=1<<7, MEIP=1<<11, SEIP=1<<9, ...).
 */
export interface InterruptTarget {
  readonly hartId: number;
  setPending(mask: number, level: boolean): void;
  /** Wake the hart if it sleeps in WFI (a pending bit changed). */
  wake(): void;
}

/** A device-tree value: empty, string(s), 32-bit cells, or raw bytes. */
export type DtValue = null | string | readonly string[] | readonly number[] | Uint8Array;

export interface DtNode {
  /** Node name with unit address, e.g. "serial@10000000". */
  name: string;
  props: Record<string, DtValue>;
  children?: DtNode[];
}

/** What a device needs to know to describe itself. */
export interface DtContext {
  /**
   * phandle of the board's wired interrupt controller (the PLIC, or the S-level APLIC with
   * --irqchip aia), for `interrupt-parent`.
   */
  irqParent: number;
  /**
   * The interrupt specifier of wired source `n` under `irqParent`: `<n>` for the PLIC
   * (#interrupt-cells = 1), `<n 4>` for the APLIC (#interrupt-cells = 2, level high), as QEMU writes them.
   */
  irqCells(n: number): number[];
  /**
   * phandle of the S-level IMSIC, the `msi-parent` of MSI-capable devices (a PCIe host bridge);
   * undefined when the board has no IMSIC (--irqchip plic).
   */
  msiParent?: number | undefined;
  /** The AIA controllers' phandles (--irqchip aia), and whether M-level ones are hidden (direct boot). */
  aia?: AiaPhandles | undefined;
  /** phandle of each hart's local interrupt controller ("riscv,cpu-intc"), by hart index. */
  cpuIntcPhandles: readonly number[];
  /** Timebase frequency in Hz (mtime ticks per second). */
  timebaseHz: number;
}

/** phandles of the AIA nodes; the S-level APLIC is `irqParent`. */
export interface AiaPhandles {
  aplicM: number;
  imsicM: number;
  imsicS: number;
  /** Direct boot: the kernel gets the tree OpenSBI would give it, with the M-level nodes disabled. */
  hideMachineLevel: boolean;
}
