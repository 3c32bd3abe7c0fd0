/**
 * MSI-X (PCI 3.0 §6.8.2): a capability pointing at a table of messages (address, data, mask) and
 * a pending-bit array, both in one of the function's BARs. Sending a vector is a 32-bit memory
 * write of its data to its address through the system bus (the root complex's `send`); with the
 * vector or the whole function masked, its pending bit is set instead and the message goes out
 * when software unmasks it (§6.8.2.9).
 */
import type { MmioSize } from "../device.js";
import type { BarRegion, PciFunction } from "./function.js";
import { CapId, MSIX_CAP, MSIX_ENTRY, MSIX_ENTRY_MASKED, MsixControl } from "./layout.js";

/** A message write (address, 32-bit data) into the system's address space. */
export type MsiSend = (address: number, data: number) => void;

export interface MsixOptions {
  vectors: number;
  /** The BAR that holds the table (at offset 0) and the PBA (at `pbaOffset`). */
  bar: number;
  pbaOffset: number;
  send: MsiSend;
}

export class Msix implements BarRegion {
  readonly vectors: number;
  private readonly fn: PciFunction;
  private readonly cap: number;
  private readonly pbaOffset: number;
  private readonly table: DataView;
  private readonly pending: Uint8Array;
  private readonly send: MsiSend;

  constructor(fn: PciFunction, o: MsixOptions) {
    if (o.vectors < 1 || o.vectors > 2048) throw new RangeError(`MSI-X with ${o.vectors} vectors`);
    this.fn = fn;
    this.vectors = o.vectors;
    this.pbaOffset = o.pbaOffset;
    this.send = o.send;
    this.table = new DataView(new ArrayBuffer(o.vectors * MSIX_ENTRY.size));
    for (let v = 0; v < o.vectors; v++)
      this.table.setUint32(v * MSIX_ENTRY.size + MSIX_ENTRY.fields.vectorControl.offset, MSIX_ENTRY_MASKED, true);
    this.pending = new Uint8Array(Math.ceil(o.vectors / 64) * 8);
    // Only Enable and Function Mask (bits 15, 14 of Message Control) are software's.
    this.cap = fn.addCapability(CapId.MSIX, MSIX_CAP.size, { [MSIX_CAP.fields.messageControl.offset + 1]: 0xc0 });
    const raw = fn.raw;
    raw.setUint16(this.cap + MSIX_CAP.fields.messageControl.offset, o.vectors - 1, true);
    raw.setUint32(this.cap + MSIX_CAP.fields.table.offset, o.bar, true);
    raw.setUint32(this.cap + MSIX_CAP.fields.pba.offset, o.pbaOffset | o.bar, true);
    fn.hook(this.cap + MSIX_CAP.fields.messageControl.offset, 2, () => this.flush());
  }

  private get control(): number {
    return this.fn.raw.getUint16(this.cap + MSIX_CAP.fields.messageControl.offset, true);
  }

  /** MSI-X Enable is set: the function signals by messages, never INTx (§6.8.2.3). */
  get enabled(): boolean {
    return (this.control & MsixControl.ENABLE) !== 0;
  }

  private masked(v: number): boolean {
    const entry = this.table.getUint32(v * MSIX_ENTRY.size + MSIX_ENTRY.fields.vectorControl.offset, true);
    return (this.control & MsixControl.FUNCTION_MASK) !== 0 || (entry & MSIX_ENTRY_MASKED) !== 0;
  }

  /** Signal vector `v`; a vector beyond the table is dropped (the driver's mistake, not ours). */
  signal(v: number): void {
    if (!this.enabled || v < 0 || v >= this.vectors) return;
    if (this.masked(v) || !this.fn.busMaster) {
      this.pending[v >> 3]! |= 1 << (v & 7);
      return;
    }
    this.deliver(v);
  }

  private deliver(v: number): void {
    const e = v * MSIX_ENTRY.size;
    const f = MSIX_ENTRY.fields;
    const address =
      this.table.getUint32(e + f.addressHigh.offset, true) * 0x1_0000_0000 +
      this.table.getUint32(e + f.addressLow.offset, true);
    this.send(address, this.table.getUint32(e + f.data.offset, true));
  }

  /** Send what became unmasked (§6.8.2.9: pending messages go out once unmasked). */
  private flush(): void {
    if (!this.enabled || !this.fn.busMaster) return;
    for (let v = 0; v < this.vectors; v++) {
      const bit = 1 << (v & 7);
      if (this.pending[v >> 3]! & bit && !this.masked(v)) {
        this.pending[v >> 3]! &= ~bit;
        this.deliver(v);
      }
    }
  }

  /** Table and PBA as seen through the BAR: dword or qword accesses (§6.8.2), others read 0. */
  read(offset: number, size: MmioSize): number {
    if (size !== 4 || offset & 3) return 0;
    if (offset < this.table.byteLength) return this.table.getUint32(offset, true);
    const p = offset - this.pbaOffset;
    if (p >= 0 && p + 4 <= this.pending.length) return new DataView(this.pending.buffer).getUint32(p, true);
    return 0;
  }

  write(offset: number, size: MmioSize, value: number): void {
    // The PBA is read-only; writes beyond the table are ignored.
    if (size !== 4 || offset & 3 || offset >= this.table.byteLength) return;
    const field = offset % MSIX_ENTRY.size;
    // Vector Control: only the mask bit is defined (§6.8.2.9).
    this.table.setUint32(
      offset,
      field === MSIX_ENTRY.fields.vectorControl.offset ? value & MSIX_ENTRY_MASKED : value,
      true,
    );
    if (field === MSIX_ENTRY.fields.vectorControl.offset) this.flush();
  }
}
