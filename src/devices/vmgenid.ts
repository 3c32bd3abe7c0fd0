/**
 * The Virtual Machine Generation ID device (Microsoft's VMGenID specification; Linux's
 * Documentation/devicetree/bindings/rng/microsoft,vmgenid.yaml and drivers/virt/vmgenid.c): a
 * 16-byte GUID in a memory region, and an interrupt that tells the guest it changed. Linux mixes
 * the GUID into its RNG at boot and, when the interrupt comes with a different GUID, reseeds its
 * RNG at once ("crng reseeded due to virtual machine fork") and sends a uevent: two clones of one
 * snapshot then never share their kernel's random numbers.
 *
 * The driver has no acknowledge register: its handler reads the GUID and compares. The change is
 * signalled as a pulse on the PLIC line, which the PLIC's gateway holds pending until the guest
 * claims it (plic.ts), so the guest sees exactly one interrupt per change.
 */
import { randomBytes } from "../sys/random.js";
import { regCells } from "./bus.js";
import type { DtContext, DtNode, IrqLine, MmioDevice, MmioSize } from "./device.js";
import { corrupt, str, type SavedState, type Snapshottable } from "../snapshot/state.js";

/** Bytes of the GUID (the binding's reg size). */
export const VMGENID_SIZE = 16;
/** The window the bus maps (one page; the GUID at its start, the rest reads as zero). */
export const VMGENID_WINDOW = 0x1000;

export interface VmGenIdOptions {
  irq: IrqLine;
  irqSource: number;
}

export class VmGenId implements MmioDevice, Snapshottable {
  readonly name = "vmgenid";
  readonly size = VMGENID_WINDOW;
  private id: Uint8Array = randomBytes(VMGENID_SIZE);

  constructor(private readonly o: VmGenIdOptions) {}

  /** The current generation ID. */
  get generation(): Uint8Array {
    return new Uint8Array(this.id);
  }

  /** A new generation (this VM is a clone now): a fresh random GUID and one interrupt. */
  newGeneration(): void {
    this.id = randomBytes(VMGENID_SIZE);
    this.o.irq.set(true);
    this.o.irq.set(false);
  }

  read(offset: number, size: MmioSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.id[offset + i] ?? 0);
    return v;
  }

  /** Read-only to the guest. */
  write(): void {}

  describe(base: number, ctx: DtContext): DtNode {
    return {
      name: `vmgenid@${base.toString(16)}`,
      props: {
        compatible: "microsoft,vmgenid",
        reg: regCells(base, VMGENID_SIZE),
        interrupts: ctx.irqCells(this.o.irqSource),
        "interrupt-parent": [ctx.irqParent],
      },
    };
  }

  saveState(): SavedState {
    return { id: Buffer.from(this.id).toString("hex") };
  }

  restoreState(s: SavedState): void {
    const hex = str(s, "id");
    if (!/^[0-9a-f]{32}$/.test(hex)) throw corrupt("vmgenid id");
    this.id = new Uint8Array(Buffer.from(hex, "hex"));
  }
}
