import { regCells } from "./bus.js";
import type { DtContext, DtNode, MmioDevice, MmioSize } from "./device.js";
import type { SavedState, Snapshottable } from "../snapshot/state.js";

/**
 * SiFive test finisher: one 32-bit register at offset 0 whose low 16 bits select an action and
 * whose high 16 bits carry an exit code (QEMU hw/misc/sifive_test.c; OpenSBI and Linux's
 * syscon-poweroff/syscon-reboot drivers write it).
 */
export const FINISHER = {
  fail: 0x3333,
  pass: 0x5555,
  reset: 0x7777,
  size: 0x1000,
} as const;

export type FinishEvent = { kind: "poweroff"; code: number } | { kind: "reset" };

export interface SifiveTestOptions {
  /**
   * phandle of the test node, which the root "poweroff" and "reboot" syscon nodes reference
   * (`regmap`). Without it the node has no phandle and `rootNodes()` returns nothing.
   */
  phandle?: number;
}

export class SifiveTest implements MmioDevice, Snapshottable {
  readonly name = "test";
  readonly size = FINISHER.size;
  private readonly phandle: number | undefined;

  constructor(
    private readonly onFinish: (e: FinishEvent) => void,
    opts: SifiveTestOptions = {},
  ) {
    this.phandle = opts.phandle;
  }

  /** No state: a write ends the machine at once. */
  saveState(): SavedState {
    return {};
  }
  restoreState(): void {}

  read(_offset: number, _size: MmioSize): number {
    return 0;
  }

  /** QEMU accepts 2- and 4-byte stores at offset 0; a 2-byte store has no code field. */
  write(offset: number, size: MmioSize, value: number): void {
    if (offset !== 0 || size === 1) return;
    const v = size === 2 ? value & 0xffff : value >>> 0;
    const status = v & 0xffff;
    if (status === FINISHER.pass) this.onFinish({ kind: "poweroff", code: 0 });
    else if (status === FINISHER.fail) this.onFinish({ kind: "poweroff", code: v >>> 16 });
    else if (status === FINISHER.reset) this.onFinish({ kind: "reset" });
    // Any other value is ignored, as QEMU does.
  }

  describe(base: number, _ctx: DtContext): DtNode {
    const props: DtNode["props"] = {};
    if (this.phandle !== undefined) props["phandle"] = [this.phandle];
    props["reg"] = regCells(base, this.size);
    props["compatible"] = ["sifive,test1", "sifive,test0", "syscon"];
    return { name: `test@${base.toString(16)}`, props };
  }

  /**
   * The root-level "poweroff" and "reboot" nodes QEMU adds so Linux can power off or reboot
   * through this register with its generic syscon drivers when the SBI lacks the SRST extension.
   * They must sit at the root (or under a simple-bus) for Linux to create their devices.
   */
  rootNodes(): DtNode[] {
    if (this.phandle === undefined) return [];
    const syscon = (name: string, value: number, compatible: string): DtNode => ({
      name,
      props: { value: [value], offset: [0], regmap: [this.phandle as number], compatible },
    });
    return [syscon("poweroff", FINISHER.pass, "syscon-poweroff"), syscon("reboot", FINISHER.reset, "syscon-reboot")];
  }
}
