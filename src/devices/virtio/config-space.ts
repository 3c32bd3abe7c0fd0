/**
 * A device configuration space as bytes (§2.5), so devices declare fields by offset and the
 * transport reads them with any access size. Multi-byte fields are little-endian (§2.5.2).
 */
export class ConfigSpace {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Read `size` bytes at `offset`; out-of-range reads return 0 (the driver is untrusted). */
  read(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > this.bytes.length) return 0;
    if (size === 1) return this.view.getUint8(offset);
    if (size === 2) return this.view.getUint16(offset, true);
    return this.view.getUint32(offset, true);
  }

  set8(offset: number, v: number): void {
    this.view.setUint8(offset, v);
  }
  set16(offset: number, v: number): void {
    this.view.setUint16(offset, v, true);
  }
  set32(offset: number, v: number): void {
    this.view.setUint32(offset, v >>> 0, true);
  }
  set64(offset: number, v: bigint): void {
    this.view.setBigUint64(offset, BigInt.asUintN(64, v), true);
  }
  get32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
}
