/**
 * The device-tree nodes of Corral's platform devices against the ones QEMU's own virt board
 * generates: QEMU dumps its DTB, dtc decodes it; our nodes are compiled by dtc and decoded the
 * same way, so both sides are printed by the same tool and compared property by property.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Clock } from "../machine/clock.js";
import type { DtContext, DtNode, DtValue, InterruptTarget, MmioDevice } from "./device.js";
import { Clint } from "./clint.js";
import { GoldfishRtc } from "./goldfish-rtc.js";
import { PLIC_NUM_SOURCES, Plic } from "./plic.js";
import { APLIC_M_BASE, APLIC_S_BASE, createAplic } from "./aplic.js";
import { Imsic, IMSIC_LAYOUT, ImsicFile } from "./imsic.js";
import { isaFor } from "../machine/devicetree.js";
import { SifiveTest } from "./sifive-test.js";
import { Uart16550, uartStdoutPath } from "./uart16550.js";
import { PCIE_IRQ_BASE, PciHostBridge } from "./pci/host-bridge.js";

/** A node as dtc prints it: property values kept as dtc's text. */
interface DtsNode {
  name: string;
  props: Map<string, string>;
  children: DtsNode[];
}

function haveTool(cmd: string, arg: string): boolean {
  try {
    execFileSync(cmd, [arg], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const missing = ["qemu-system-riscv64", "dtc"].filter((t) => !haveTool(t, "--version"));
const skip = missing.length > 0 ? `needs ${missing.join(", ")} (apt: qemu-system-misc, device-tree-compiler)` : false;

/** Parse dtc's DTS output: one node header, property or node end per line. */
function parseDts(text: string): DtsNode {
  const root: DtsNode = { name: "", props: new Map(), children: [] };
  const stack: DtsNode[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("/dts-v1/") || line.startsWith("/memreserve/")) continue;
    if (line.endsWith("{")) {
      const name = line.slice(0, -1).trim();
      const node: DtsNode = name === "/" ? root : { name, props: new Map(), children: [] };
      stack.at(-1)?.children.push(node);
      stack.push(node);
    } else if (line === "};") {
      stack.pop();
    } else {
      const body = line.replace(/;$/, "");
      const eq = body.indexOf(" = ");
      const top = stack.at(-1);
      assert.ok(top, `property outside a node: ${line}`);
      if (eq < 0) top.props.set(body, "");
      else top.props.set(body.slice(0, eq), body.slice(eq + 3));
    }
  }
  return root;
}

function child(node: DtsNode, name: string): DtsNode {
  const c = node.children.find((n) => n.name === name);
  assert.ok(c, `node ${name} not found under ${node.name || "/"}`);
  return c;
}

function cell(node: DtsNode, prop: string): number {
  const v = node.props.get(prop);
  assert.ok(v, `${node.name} has no ${prop}`);
  return Number(v.replace(/[<>]/g, ""));
}

function renderValue(v: DtValue): string {
  const str = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  if (v === null) return "";
  if (typeof v === "string") return ` = ${str(v)}`;
  if (v instanceof Uint8Array) return ` = [${[...v].map((b) => b.toString(16).padStart(2, "0")).join(" ")}]`;
  if (v.length > 0 && typeof v[0] === "string") return ` = ${(v as readonly string[]).map(str).join(", ")}`;
  return ` = <${(v as readonly number[]).map((n) => `0x${n.toString(16)}`).join(" ")}>`;
}

function renderNode(n: DtNode, indent: string): string {
  const props = Object.entries(n.props).map(([k, v]) => `${indent}\t${k}${renderValue(v)};\n`);
  const kids = (n.children ?? []).map((c) => renderNode(c, `${indent}\t`));
  return `${indent}${n.name} {\n${props.join("")}${kids.join("")}${indent}};\n`;
}

/** Our nodes through dtc: DTS source -> DTB -> DTS, as QEMU's DTB is decoded. */
function viaDtc(dir: string, soc: DtNode[], rootNodes: DtNode[]): DtsNode {
  const src =
    "/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n" +
    rootNodes.map((n) => renderNode(n, "\t")).join("") +
    renderNode(
      { name: "soc", props: { "#address-cells": [2], "#size-cells": [2], ranges: null }, children: soc },
      "\t",
    ) +
    "};\n";
  writeFileSync(join(dir, "corral.dts"), src);
  execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", join(dir, "corral.dtb"), join(dir, "corral.dts")]);
  return parseDts(execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dts", join(dir, "corral.dtb")], { encoding: "utf8" }));
}

function qemuTree(dir: string, harts: number, machine = "virt"): DtsNode {
  const dtb = join(dir, `${machine.replace(/\W/g, "-")}-${harts}.dtb`);
  execFileSync("qemu-system-riscv64", ["-M", `${machine},dumpdtb=${dtb}`, "-smp", String(harts), "-display", "none"], {
    stdio: "ignore",
  });
  return parseDts(execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dts", dtb], { encoding: "utf8" }));
}

const hart = (hartId: number): InterruptTarget => ({ hartId, setPending: () => {}, wake: () => {} });

/** The base QEMU gave the node whose name starts with `prefix@` under `parent`. */
function qemuNode(parent: DtsNode, prefix: string): { node: DtsNode; base: number } {
  const node = parent.children.find((n) => n.name.startsWith(`${prefix}@`));
  assert.ok(node, `QEMU has no ${prefix}@ node`);
  return { node, base: parseInt(node.name.slice(prefix.length + 1), 16) };
}

for (const harts of [1, 2]) {
  test(`device-tree nodes match QEMU virt with ${harts} hart(s)`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-dt-"));
    try {
      const qemu = qemuTree(dir, harts);
      const qsoc = child(qemu, "soc");
      const cpus = child(qemu, "cpus");
      const test = qemuNode(qsoc, "test");
      const ctx: DtContext = {
        irqParent: cell(qemuNode(qsoc, "plic").node, "phandle"),
        irqCells: (n: number) => [n],
        cpuIntcPhandles: Array.from({ length: harts }, (_, h) =>
          cell(child(child(cpus, `cpu@${h}`), "interrupt-controller"), "phandle"),
        ),
        timebaseHz: cell(cpus, "timebase-frequency"),
      };
      const targets = Array.from({ length: harts }, (_, h) => hart(h));
      const plic = new Plic(targets);
      const finisher = new SifiveTest(() => {}, { phandle: cell(test.node, "phandle") });
      const devices: [string, MmioDevice][] = [
        ["clint", new Clint(new Clock(ctx.timebaseHz), targets)],
        ["plic", plic],
        ["serial", new Uart16550({ irq: plic.irq(10), output: () => {} })],
        ["test", finisher],
        ["rtc", new GoldfishRtc({ clock: new Clock(ctx.timebaseHz), irq: plic.irq(11), irqSource: 11 })],
        // The PCIe host bridge, with QEMU's default 128 MiB of RAM (its 64-bit window follows RAM).
        [
          "pci",
          new PciHostBridge({
            intx: [0, 1, 2, 3].map((i) => plic.irq(PCIE_IRQ_BASE + i)),
            ramEnd: 0x8000_0000 + 128 * 2 ** 20,
          }).ecam,
        ],
      ];
      const soc: DtNode[] = [];
      for (const [prefix, dev] of devices) {
        const { base } = qemuNode(qsoc, prefix);
        assert.ok(dev.describe);
        soc.push(dev.describe(base, ctx));
      }
      const ours = viaDtc(dir, soc, finisher.rootNodes());

      for (const [prefix] of devices) {
        const q = qemuNode(qsoc, prefix).node;
        const o = child(child(ours, "soc"), q.name);
        const qProps = new Map(q.props);
        const oProps = new Map(o.props);
        if (prefix === "plic") {
          // QEMU 7.2 writes the source count including source 0 (96); QEMU 8+ and Linux's binding
          // use the number of usable sources (95), which we follow.
          const qNdev = cell(q, "riscv,ndev");
          assert.ok(qNdev === PLIC_NUM_SOURCES || qNdev === PLIC_NUM_SOURCES - 1, `QEMU riscv,ndev ${qNdev}`);
          assert.equal(cell(o, "riscv,ndev"), PLIC_NUM_SOURCES - 1);
          qProps.delete("riscv,ndev");
          oProps.delete("riscv,ndev");
        }
        assert.deepEqual(oProps, qProps, `node ${q.name}`);
      }
      for (const name of ["poweroff", "reboot"]) {
        assert.deepEqual(child(ours, name).props, child(qemu, name).props, `node /${name}`);
      }
      assert.equal(
        `"${uartStdoutPath(qemuNode(qsoc, "serial").base)}"`,
        child(qemu, "chosen").props.get("stdout-path"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const harts of [1, 2]) {
  test(`device-tree nodes of the AIA match QEMU virt,aia=aplic-imsic with ${harts} hart(s)`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-dt-"));
    try {
      const qemu = qemuTree(dir, harts, "virt,aia=aplic-imsic");
      const qsoc = child(qemu, "soc");
      const cpus = child(qemu, "cpus");
      const phandle = (prefix: string, base: number): number =>
        cell(child(qsoc, `${prefix}@${base.toString(16)}`), "phandle");
      const ctx: DtContext = {
        irqParent: phandle("aplic", APLIC_S_BASE),
        irqCells: (n: number) => [n, 4],
        msiParent: phandle("imsics", IMSIC_LAYOUT.sBase),
        aia: {
          aplicM: phandle("aplic", APLIC_M_BASE),
          imsicM: phandle("imsics", IMSIC_LAYOUT.mBase),
          imsicS: phandle("imsics", IMSIC_LAYOUT.sBase),
          hideMachineLevel: false,
        },
        cpuIntcPhandles: Array.from({ length: harts }, (_, h) =>
          cell(child(child(cpus, `cpu@${h}`), "interrupt-controller"), "phandle"),
        ),
        timebaseHz: cell(cpus, "timebase-frequency"),
      };
      const targets = Array.from({ length: harts }, (_, h) => hart(h));
      const aplic = createAplic(() => {});
      const file = (h: number): ImsicFile => new ImsicFile(hart(h), 0);
      const devices: [number, MmioDevice][] = [
        [APLIC_M_BASE, aplic.m],
        [APLIC_S_BASE, aplic.s],
        [
          IMSIC_LAYOUT.mBase,
          new Imsic(
            "m",
            targets.map((_, h) => file(h)),
            harts,
          ),
        ],
        [
          IMSIC_LAYOUT.sBase,
          new Imsic(
            "s",
            targets.map((_, h) => file(h)),
            harts,
          ),
        ],
        [qemuNode(qsoc, "serial").base, new Uart16550({ irq: aplic.m.irq(10), output: () => {} })],
        [
          qemuNode(qsoc, "rtc").base,
          new GoldfishRtc({ clock: new Clock(ctx.timebaseHz), irq: aplic.m.irq(11), irqSource: 11 }),
        ],
        // The PCIe host bridge: INTx through the S-level APLIC, msi-parent the S-level IMSIC.
        [
          qemuNode(qsoc, "pci").base,
          new PciHostBridge({
            intx: [0, 1, 2, 3].map((i) => aplic.m.irq(PCIE_IRQ_BASE + i)),
            ramEnd: 0x8000_0000 + 128 * 2 ** 20,
          }).ecam,
        ],
      ];
      const soc = devices.map(([base, dev]) => dev.describe!(base, ctx));
      const ours = child(viaDtc(dir, soc, []), "soc");
      for (const node of soc) {
        const q = child(qsoc, node.name);
        assert.deepEqual(new Map(child(ours, node.name).props), new Map(q.props), `node ${node.name}`);
      }
      // The harts' ISA string ends in the extensions QEMU adds for the AIA, in its order.
      const qIsa = child(cpus, "cpu@0").props.get("riscv,isa") ?? "";
      assert.ok(qIsa.endsWith('_smaia_ssaia_sstc"'), qIsa);
      assert.ok(isaFor(true).string.endsWith("_smaia_ssaia_sstc"));
      assert.deepEqual(isaFor(true).extensions.slice(-3), ["smaia", "ssaia", "sstc"]);
      // A direct boot hides the M-level nodes, as OpenSBI's fixups do for the kernel it starts.
      const hidden: DtContext = { ...ctx, aia: { ...ctx.aia!, hideMachineLevel: true } };
      assert.equal(aplic.m.describe(APLIC_M_BASE, hidden).props.status, "disabled");
      assert.equal(aplic.s.describe(APLIC_S_BASE, hidden).props.status, undefined);
      assert.equal((devices[2]![1] as Imsic).describe(IMSIC_LAYOUT.mBase, hidden).props.status, "disabled");
      assert.equal((devices[3]![1] as Imsic).describe(IMSIC_LAYOUT.sBase, hidden).props.status, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
