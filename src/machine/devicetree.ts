/**
 * The device tree of Corral's `virt` board, as QEMU's virt machine lays it out
 * (Devicetree Specification v0.4 chapters 2-3; Linux Documentation/devicetree/bindings/riscv/
 * cpus.yaml for the harts). It lists exactly the devices present on the bus.
 */
import { ISA_EXTENSIONS, ISA_STRING } from "../cpu/isa/defs.js";
import type { DtContext, DtNode } from "../devices/device.js";
import { u64Cells } from "../formats/fdt.js";

export interface BoardDescription {
  cpus: number;
  timebaseHz: number;
  ramBase: number;
  ramSize: number;
  cmdline: string;
  initrd?: { start: number; end: number } | undefined;
  /** The soc nodes (from each device's describe()), and nodes that must sit at the root. */
  socNodes: DtNode[];
  rootNodes: DtNode[];
  /** Path of the console UART for /chosen/stdout-path. */
  stdoutPath?: string | undefined;
  /** Seed for the guest's RNG (/chosen/rng-seed): lets the kernel seed its CRNG at once. */
  rngSeed?: Uint8Array | undefined;
  /** The harts have IMSICs: their ISA lists Smaia and Ssaia (--irqchip aia). */
  aia?: boolean | undefined;
}

/**
 * The harts' ISA as the device tree gives it: Corral's, plus Smaia and Ssaia on a board with
 * IMSICs, placed as QEMU places them (before sstc: the S extensions in alphabetical order).
 */
export function isaFor(aia: boolean): { string: string; extensions: string[] } {
  const extensions: string[] = [...ISA_EXTENSIONS];
  if (!aia) return { string: ISA_STRING, extensions };
  const at = extensions.indexOf("sstc");
  extensions.splice(at, 0, "smaia", "ssaia");
  return { string: ISA_STRING.replace("_sstc", "_smaia_ssaia_sstc"), extensions };
}

/** The board's interrupt controllers (--irqchip): QEMU virt's default PLIC, or its aia=aplic-imsic. */
export type IrqChip = "plic" | "aia";

/**
 * phandles: 1 = the wired interrupt controller (PLIC, or the S-level APLIC), then per hart: cpu
 * node, its interrupt controller; with the AIA, the M-level APLIC and the M- and S-level IMSICs
 * after the harts. Devices may use >= 100.
 */
export function phandles(
  cpus: number,
  irqchip: IrqChip = "plic",
  opts: { hideMachineLevel?: boolean } = {},
): DtContext & { cpuPhandles: number[] } {
  const cpuPhandles = Array.from({ length: cpus }, (_, i) => 2 + 2 * i);
  const next = 2 + 2 * cpus;
  const aia =
    irqchip === "aia"
      ? { aplicM: next, imsicM: next + 1, imsicS: next + 2, hideMachineLevel: opts.hideMachineLevel ?? false }
      : undefined;
  return {
    irqParent: 1,
    // The PLIC's specifier is the source; the APLIC's adds the trigger type, level high (4).
    irqCells: aia ? (n) => [n, 4] : (n) => [n],
    msiParent: aia?.imsicS,
    aia,
    cpuIntcPhandles: cpuPhandles.map((p) => p + 1),
    cpuPhandles,
    timebaseHz: 0,
  };
}

export function boardTree(b: BoardDescription, ph: ReturnType<typeof phandles>): DtNode {
  const chosen: DtNode = { name: "chosen", props: { bootargs: b.cmdline } };
  if (b.stdoutPath) chosen.props["stdout-path"] = b.stdoutPath;
  if (b.initrd) {
    chosen.props["linux,initrd-start"] = u64Cells(b.initrd.start);
    chosen.props["linux,initrd-end"] = u64Cells(b.initrd.end);
  }
  if (b.rngSeed) chosen.props["rng-seed"] = b.rngSeed;

  const isa = isaFor(b.aia ?? false);
  const cpuNodes: DtNode[] = [];
  for (let i = 0; i < b.cpus; i++) {
    cpuNodes.push({
      name: `cpu@${i}`,
      props: {
        phandle: [ph.cpuPhandles[i]!],
        device_type: "cpu",
        reg: [i],
        status: "okay",
        compatible: "riscv",
        "riscv,isa": isa.string,
        "riscv,isa-base": "rv64i",
        "riscv,isa-extensions": isa.extensions,
        "mmu-type": "riscv,sv48",
      },
      children: [
        {
          name: "interrupt-controller",
          props: {
            "#interrupt-cells": [1],
            "interrupt-controller": null,
            compatible: "riscv,cpu-intc",
            phandle: [ph.cpuIntcPhandles[i]!],
          },
        },
      ],
    });
  }
  const cpuMap: DtNode = {
    name: "cpu-map",
    props: {},
    children: [
      {
        name: "cluster0",
        props: {},
        children: ph.cpuPhandles.map((p, i) => ({ name: `core${i}`, props: { cpu: [p] } })),
      },
    ],
  };

  return {
    name: "",
    props: {
      "#address-cells": [2],
      "#size-cells": [2],
      compatible: "riscv-virtio",
      model: "riscv-virtio,qemu",
    },
    children: [
      chosen,
      {
        name: `memory@${b.ramBase.toString(16)}`,
        props: { device_type: "memory", reg: [...u64Cells(b.ramBase), ...u64Cells(b.ramSize)] },
      },
      {
        name: "cpus",
        props: { "#address-cells": [1], "#size-cells": [0], "timebase-frequency": [b.timebaseHz] },
        children: [...cpuNodes, cpuMap],
      },
      ...b.rootNodes,
      {
        name: "soc",
        props: { "#address-cells": [2], "#size-cells": [2], compatible: "simple-bus", ranges: null },
        children: b.socNodes,
      },
    ],
  };
}
