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
}

/** phandles: 1 = PLIC, then per hart: cpu node, its interrupt controller. Devices may use >= 100. */
export function phandles(cpus: number): DtContext & { cpuPhandles: number[] } {
  const cpuPhandles = Array.from({ length: cpus }, (_, i) => 2 + 2 * i);
  return {
    plicPhandle: 1,
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
        "riscv,isa": ISA_STRING,
        "riscv,isa-base": "rv64i",
        "riscv,isa-extensions": [...ISA_EXTENSIONS],
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
