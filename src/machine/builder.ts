/**
 * The boot builder: one linear recipe from a configuration to a machine ready to run
 * (Firecracker's builder.rs): validate, memory, machine and harts, devices, images, device
 * tree, initial register state. Each step reads like the board's manual; nothing runs yet.
 *
 * Memory map (QEMU virt): test finisher 0x10_0000, RTC 0x10_1000, CLINT 0x200_0000, PLIC 0xc00_0000,
 * UART 0x1000_0000, RAM 0x8000_0000; and Corral's VM generation ID at 0x10_2000 (IRQ 12), free on
 * QEMU's board. With --irqchip aia (QEMU's aia=aplic-imsic) the PLIC's place holds the M-level
 * APLIC, the S-level one is at 0xd00_0000, and the harts' IMSIC pages at 0x2400_0000 (M) and
 * 0x2800_0000 (S).
 */
import { randomBytes } from "../sys/random.js";
import { totalmem } from "node:os";
import { blobBytes, blobSize, type BlobData } from "../boot/blob.js";
import { loadFirmware, loadKernel, placeBlob } from "../boot/kernel.js";
import { Exc, MEDELEG_MASK, MENVCFG_HI_STCE, MIP_MEIP, MIP_SEIP, PRIV_M, PRIV_S, S_INTS } from "../cpu/isa/defs.js";
import { HartState } from "../cpu/hart/hart.js";
import { Clint } from "../devices/clint.js";
import { GoldfishRtc } from "../devices/goldfish-rtc.js";
import { Plic } from "../devices/plic.js";
import { APLIC_M_BASE, APLIC_S_BASE, createAplic, type AplicDomain } from "../devices/aplic.js";
import { HartImsic, Imsic, IMSIC_LAYOUT, ImsicFile } from "../devices/imsic.js";
import { SifiveTest } from "../devices/sifive-test.js";
import { Uart16550 } from "../devices/uart16550.js";
import { VmGenId } from "../devices/vmgenid.js";
import type { MmioDevice, WiredIrqController } from "../devices/device.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { VirtioConsole } from "../devices/virtio/console.js";
import { VirtioMmioTransport } from "../devices/virtio/transport-mmio.js";
import {
  PCIE_IRQ_BASE,
  PCIE_MEMMAP,
  PCIE_INTX_LINES,
  PCI_DEVICES_PER_BUS,
  PciHostBridge,
} from "../devices/pci/host-bridge.js";
import { VirtioPciFunction } from "../devices/pci/virtio-pci.js";
import { VirtioSriov } from "../devices/pci/virtio-sriov.js";
import { CorralError, FieldError } from "../errors.js";
import { formatMiB } from "../size.js";
import { VIRTIO_SLOTS, MAX_CPUS, MAX_MEMORY, MIN_CPUS, MIN_MEMORY, type GuestConsole } from "../vm/spec.js";
import { encodeFdt } from "../formats/fdt.js";
import { boardTree, phandles, type IrqChip } from "./devicetree.js";
import { Machine } from "./machine.js";
import { GuestRam, RAM_BASE } from "./memory.js";
import { Sbi } from "./sbi.js";

export const MEMMAP = {
  test: 0x10_0000,
  rtc: 0x10_1000,
  vmgenid: 0x10_2000,
  clint: 0x200_0000,
  plic: 0xc00_0000,
  uart: 0x1000_0000,
  virtio: 0x1000_1000,
  ram: RAM_BASE,
} as const;
export const UART_IRQ = 10;
export const RTC_IRQ = 11;
export const VMGENID_IRQ = 12;
/** Every way the builder itself refuses a configuration (the loaders in boot/kernel.ts add theirs). */
export type BuildErrorCode =
  | "BAD_CPUS"
  | "IMAGE_OVERLAP"
  | "MEMORY_ALIGN"
  | "MEMORY_TOO_LARGE"
  | "MEMORY_TOO_SMALL"
  | "NO_CONSOLE_DEVICE"
  | "NO_KERNEL"
  | "TOO_MANY_DEVICES"
  | "SRIOV_NEEDS_PCI"
  | "SRIOV_NEEDS_AIA"
  | "THREADS_NEED_PLIC";

/**
 * A boot image and the name its errors give: its bytes, or an open file the builder reads straight
 * into guest RAM where it goes (src/boot/blob.ts; the caller closes the file after buildMachine).
 */
export interface NamedBlob {
  name: string;
  data: BlobData;
}

export interface MachineConfig {
  /** Guest RAM in bytes. */
  memory: number;
  cpus: number;
  /** A Linux kernel (Image or vmlinux). Without it, `firmware` is run bare-metal. */
  kernel?: NamedBlob | undefined;
  initrd?: NamedBlob | undefined;
  cmdline?: string | undefined;
  /** M-mode firmware (e.g. OpenSBI fw_dynamic) or, without a kernel, a bare-metal program. */
  firmware?: NamedBlob | undefined;
  /** Where guest console bytes go. */
  console: (bytes: Uint8Array) => void;
  /** The interrupt controllers: the PLIC (default) or the AIA's APLIC and IMSICs. */
  irqchip?: IrqChip | undefined;
  /**
   * The guest's console device (default ttyS0): its output goes to `console`, and
   * Machine.consoleInput feeds it. With hvc0, port 0 of the first VirtioConsole in `virtio` is
   * used (the composition step, src/vm/compose.ts, gives every VM one). The UART's output (firmware such as OpenSBI
   * prints there, following the device tree's stdout-path) still goes to `console` too.
   */
  consoleDevice?: GuestConsole | undefined;
  /** Paravirtual devices, each behind its own virtio-mmio transport (QEMU virt: 0x1000_1000 + 0x1000 * i, PLIC source 1 + i). */
  virtio?: readonly VirtioDevice[] | undefined;
  /**
   * Paravirtual devices behind virtio-pci (src/devices/pci/), at bus 0 devices 1, 2, ... of the
   * PCIe host bridge; without any, the board has no host bridge.
   */
  pci?: readonly VirtioDevice[] | undefined;
  /**
   * Restore instead of boot (src/snapshot/): RAM is this file (a snapshot's RAM, mapped
   * copy-on-write; a later fork's overlay laid over it, GuestRam.loadFrom), no image is loaded, no device tree written; the caller restores the harts'
   * and devices' state before it runs the machine.
   */
  restore?: { ramFile: number; ramOverlay?: number | undefined; sbi: boolean } | undefined;
  /**
   * A booted machine's RAM in a memory file mapped shared (GuestRam.backWithFile), so a fork
   * hands its clones that file instead of writing RAM out (src/snapshot/fork.ts). Not for RAM
   * offered to KSM, which merges anonymous pages only.
   */
  ramFile?: boolean | undefined;
  /**
   * Run each hart on a host thread of its own (machine/threads/), when there is more than one.
   * Experimental; default: the environment's CORRAL_THREADS=1.
   */
  threads?: boolean | undefined;
}

/** OpenSBI's struct fw_dynamic_info (include/sbi/fw_dynamic.h), version 2: six longs. */
export const FW_DYNAMIC_INFO = {
  magic: 0,
  version: 8,
  nextAddr: 16,
  nextMode: 24,
  options: 32,
  bootHart: 40,
  size: 48,
} as const;
const FW_DYNAMIC_MAGIC = 0x4942534fn;
/** Direct boot: the kernel at RAM + 2 MiB (its Image header says so too); firmware boot the same. */
const KERNEL_OFFSET = 0x20_0000;
/** Guest memory a Linux kernel needs beyond its image and initrd to boot to userspace. */
const LINUX_HEADROOM = 48 * 2 ** 20;

export function validateConfig(c: MachineConfig): void {
  if (!Number.isInteger(c.cpus) || c.cpus < MIN_CPUS || c.cpus > MAX_CPUS) {
    throw new FieldError<BuildErrorCode>(
      "BAD_CPUS",
      "harts",
      (n) => `${n} must be a whole number from ${MIN_CPUS} to ${MAX_CPUS} (got ${c.cpus})`,
      { exitCode: 2 },
    );
  }
  if (!Number.isInteger(c.memory) || c.memory < MIN_MEMORY) {
    throw new FieldError<BuildErrorCode>(
      "MEMORY_TOO_SMALL",
      "memory",
      (n) => `${n} must be at least ${formatMiB(MIN_MEMORY)} (got ${formatMiB(c.memory)})`,
      { exitCode: 2 },
    );
  }
  const host = totalmem();
  if (c.memory > MAX_MEMORY || c.memory > host - 256 * 2 ** 20) {
    const most = formatMiB(Math.min(MAX_MEMORY, host - 256 * 2 ** 20));
    throw new FieldError<BuildErrorCode>(
      "MEMORY_TOO_LARGE",
      "memory",
      (n) => `${n} ${formatMiB(c.memory)} is more than this host can give (at most ${most})`,
      { exitCode: 2 },
    );
  }
  if (c.memory % 4096 !== 0)
    throw new FieldError<BuildErrorCode>("MEMORY_ALIGN", "memory", (n) => `${n} must be a multiple of 4K`, {
      exitCode: 2,
    });
  if (!c.kernel && !c.firmware && c.restore === undefined)
    throw new CorralError<BuildErrorCode>("NO_KERNEL", "nothing to boot: give a kernel or a firmware", { exitCode: 2 });
}

export function buildMachine(config: MachineConfig): Machine {
  validateConfig(config);
  // A copy whose boot blobs are dropped once they are in RAM (below): the closures made here (the
  // UART's output, the SBI's host calls) share this scope's context with `c`, so while the machine
  // runs they would keep the kernel image and the initrd (43 MB for the default guest) alive.
  const c: MachineConfig = { ...config };

  // 1. Memory and harts.
  const threads = c.cpus > 1 && (c.threads ?? process.env["CORRAL_THREADS"] === "1");
  if (threads && (c.irqchip ?? "plic") !== "plic")
    throw new CorralError<BuildErrorCode>(
      "THREADS_NEED_PLIC",
      "harts on threads (CORRAL_THREADS=1) work with the PLIC only for now: drop --irqchip aia or CORRAL_THREADS",
      { exitCode: 2 },
    );
  const ram = new GuestRam(c.memory, RAM_BASE, { shared: threads });
  if (c.restore) ram.loadFrom(c.restore.ramFile, c.restore.ramOverlay);
  else if (c.ramFile) ram.backWithFile();
  const m = new Machine(ram, c.cpus, c.console);

  // 2. Devices, wired to the harts' interrupt inputs.
  const clint = new Clint(m.clock, m.harts);
  const chip = interruptControllers(m, c.irqchip ?? "plic");
  const wired = chip.wired;
  // A kernel's driver opens the port when a program opens its tty: host input waits for that.
  const uart = new Uart16550({
    irq: wired.irq(UART_IRQ),
    irqSource: UART_IRQ,
    output: (b) => m.consoleWrite(typeof b === "number" ? Uint8Array.of(b) : b),
    holdInputUntilOpen: c.kernel !== undefined || c.restore !== undefined,
  });
  // A wall clock, so the guest knows the date (QEMU virt has the same RTC at the same place).
  const rtc = new GoldfishRtc({ clock: m.clock, irq: wired.irq(RTC_IRQ), irqSource: RTC_IRQ });
  const test = new SifiveTest(
    (e) => m.finish(e.kind === "poweroff" ? { kind: "poweroff", code: e.code } : { kind: "reset" }),
    { phandle: 100 },
  );
  // The VM generation ID, which a fork's clones change (src/snapshot/fork.ts).
  const vmgenid = new VmGenId({ irq: wired.irq(VMGENID_IRQ), irqSource: VMGENID_IRQ });
  const devices: [number, MmioDevice & Required<Pick<MmioDevice, "describe">>][] = [
    [MEMMAP.test, test],
    [MEMMAP.rtc, rtc],
    [MEMMAP.vmgenid, vmgenid],
    [MEMMAP.clint, clint],
    [MEMMAP.uart, uart],
    ...chip.devices,
  ];
  const virtio = [...(c.virtio ?? [])];
  const pci = [...(c.pci ?? [])];
  let hvc: VirtioConsole | undefined;
  if (c.consoleDevice === "hvc0") {
    hvc = [...virtio, ...pci].find((d): d is VirtioConsole => d instanceof VirtioConsole);
    if (!hvc)
      throw new FieldError<BuildErrorCode>(
        "NO_CONSOLE_DEVICE",
        "console",
        (n) => `${n} hvc0 needs a virtio-console among the devices: add one`,
        { exitCode: 2 },
      );
    hvc.ports[0]!.onOutput = (b) => m.consoleWrite(b);
  }
  if (virtio.length > VIRTIO_SLOTS)
    throw new CorralError<BuildErrorCode>(
      "TOO_MANY_DEVICES",
      `at most ${VIRTIO_SLOTS} virtio devices fit on the board (asked for ${virtio.length})`,
      { exitCode: 2 },
    );
  const sriovOnMmio = virtio.find((d) => (d.virtualFunctions?.length ?? 0) > 0);
  if (sriovOnMmio)
    throw new CorralError<BuildErrorCode>(
      "SRIOV_NEEDS_PCI",
      `${sriovOnMmio.name} has virtual functions, which only PCI carries: give it transport=pci`,
      { exitCode: 2 },
    );
  // A VF has no INTx pin (PCIe base spec, the SR-IOV chapter): without MSI-X through an IMSIC the guest's
  // virtio-net cannot probe it ("error -524"), so say so before anything starts.
  const sriovOnPlic = (c.irqchip ?? "plic") !== "aia" && pci.find((d) => (d.virtualFunctions?.length ?? 0) > 0);
  if (sriovOnPlic)
    throw new CorralError<BuildErrorCode>(
      "SRIOV_NEEDS_AIA",
      `${sriovOnPlic.name} has virtual functions, which signal only by MSI-X: add --irqchip aia`,
      { exitCode: 2 },
    );
  virtio.forEach((device, i) => {
    const irqNumber = 1 + i;
    devices.push([
      MEMMAP.virtio + 0x1000 * i,
      new VirtioMmioTransport({ device, memory: ram, irq: wired.irq(irqNumber), irqNumber }),
    ]);
  });
  const windows: [number, MmioDevice][] = [];
  if (pci.length > 0) {
    if (pci.length >= PCI_DEVICES_PER_BUS)
      throw new CorralError<BuildErrorCode>(
        "TOO_MANY_DEVICES",
        `at most ${PCI_DEVICES_PER_BUS - 1} PCI devices fit on the board's bus (asked for ${pci.length})`,
        { exitCode: 2 },
      );
    const intx = Array.from({ length: PCIE_INTX_LINES }, (_, i) => wired.irq(PCIE_IRQ_BASE + i));
    const bridge = new PciHostBridge({ intx, ramEnd: ram.end });
    // An MSI is a memory write through the system bus (PCI 3.0 §6.8.1): to a device (an IMSIC)
    // it arrives, to nothing it is dropped. Never back into the bridge's own windows, where it
    // could notify the queue that sent it, and so on.
    const msi = (address: number, data: number): void => {
      if (!bridge.covers(address)) m.bus.write(address, 4, data);
    };
    // SR-IOV VFs go after every device number the PFs and other functions take (virtio-sriov.ts).
    let vfDevfn = (1 + pci.length) << 3;
    const vfCount = pci.reduce((n, d) => n + (d.virtualFunctions?.length ?? 0), 0);
    if (vfDevfn + vfCount > 256)
      throw new CorralError<BuildErrorCode>(
        "TOO_MANY_DEVICES",
        `${pci.length} PCI devices and ${vfCount} virtual functions do not fit on the board's bus (256 functions): ask for fewer vfs=`,
        { exitCode: 2 },
      );
    pci.forEach((device, i) => {
      const f = new VirtioPciFunction({ device, memory: ram, msi });
      bridge.attach(1 + i, 0, f.fn);
      bridge.own(f);
      const vfs = device.virtualFunctions ?? [];
      if (vfs.length === 0) return;
      new VirtioSriov({ bridge, pf: f, pfDevfn: (1 + i) << 3, firstDevfn: vfDevfn, vfs, memory: ram, msi });
      vfDevfn += vfs.length;
    });
    devices.push([PCIE_MEMMAP.ecam.base, bridge.ecam]);
    windows.push(...bridge.windows);
  }
  for (const [base, dev] of [...devices, ...windows]) m.bus.map(base, dev);
  m.timers.push(clint, rtc);
  m.uart = uart;
  const con = hvc;
  m.consoleInput = con ? (b) => con.pushInput(b, 0) : (b) => uart.pushInput(b);

  if (c.restore) {
    // A restored machine keeps its snapshot's SBI: direct boot's, unless firmware runs in M-mode.
    if (c.restore.sbi) m.sbi = directSbi(m, ram);
    return m;
  }

  // 3. Images: kernel (direct or behind firmware), firmware or a bare-metal program.
  const direct = c.kernel !== undefined && c.firmware === undefined;
  let entry: number;
  let kernelEnd = ram.base;
  if (c.firmware) {
    const fw = loadFirmware(ram, blobBytes(c.firmware.data, c.firmware.name), c.firmware.name);
    entry = fw.entry;
    kernelEnd = fw.end;
  }
  let kernelEntry = 0;
  if (c.kernel) {
    const k = loadKernel(ram, c.kernel.data, c.kernel.name);
    if (c.firmware && k.start < kernelEnd) {
      throw new CorralError<BuildErrorCode>(
        "IMAGE_OVERLAP",
        `the firmware ${c.firmware.name} overlaps the kernel at 0x${k.start.toString(16)}: use a firmware linked below RAM + 2 MiB`,
      );
    }
    kernelEntry = k.entry;
    kernelEnd = k.end;
    // Linux needs room beyond its image for page tables, memmap and its first allocations.
    const need = k.end - ram.base + (c.initrd ? blobSize(c.initrd.data) : 0) + LINUX_HEADROOM;
    if (c.memory < need) {
      const name = c.kernel.name;
      throw new FieldError<BuildErrorCode>(
        "MEMORY_TOO_SMALL",
        "memory",
        (n) =>
          `${name} needs at least ${Math.ceil(need / 2 ** 20)}M of guest memory (got ${formatMiB(c.memory)}): raise ${n}`,
        { exitCode: 2 },
      );
    }
    if (direct) entry = k.entry;
  }
  entry ??= ram.base;

  // 4. The device tree goes at the top of RAM, the initrd below it (as QEMU: half of RAM, at most 128 MiB above the kernel).
  const ph = phandles(c.cpus, c.irqchip ?? "plic", { hideMachineLevel: direct });
  const ctx = { ...ph, timebaseHz: m.clock.hz };
  const dtbReserve = 64 * 1024;
  const dtbAt = ram.end - dtbReserve;
  let initrd: { start: number; end: number } | undefined;
  if (c.initrd) {
    const want = Math.max(align(kernelEnd, 2 ** 20), ram.base + KERNEL_OFFSET + Math.min(c.memory / 2, 128 * 2 ** 20));
    const at = want + blobSize(c.initrd.data) <= dtbAt ? want : align(kernelEnd, 4096);
    initrd = placeBlob(
      ram,
      c.initrd.data,
      c.initrd.name,
      at,
      dtbAt,
      "initrd",
      (n) => `raise ${n} or use a smaller initrd`,
    );
  }
  const tree = boardTree(
    {
      cpus: c.cpus,
      timebaseHz: m.clock.hz,
      ramBase: ram.base,
      ramSize: ram.size,
      cmdline: c.cmdline ?? "",
      initrd,
      socNodes: devices.map(([base, dev]) => dev.describe(base, ctx)),
      rootNodes: test.rootNodes(),
      stdoutPath: `/soc/serial@${MEMMAP.uart.toString(16)}`,
      rngSeed: randomBytes(32),
      aia: chip.aplicRoot !== undefined,
    },
    ph,
  );
  const dtb = encodeFdt(tree);
  placeBlob(ram, dtb, "device tree", dtbAt, ram.end, "device tree", (n) => `raise ${n}`);

  // 5. Initial hart state.
  if (direct) {
    // Direct boot: Corral is the SBI. Hart 0 enters the kernel in S-mode (Linux
    // Documentation/arch/riscv/boot.rst: a0 = hartid, a1 = DTB, satp = 0); the others wait
    // for HSM hart_start. Everything S-mode may own is delegated, as firmware would.
    m.sbi = directSbi(m, ram);
    // The M-level APLIC as firmware leaves it: every source delegated to the S-level domain.
    chip.aplicRoot?.setupAsFirmware(IMSIC_LAYOUT.mBase, IMSIC_LAYOUT.sBase, c.cpus);
    for (const h of m.harts) {
      h.reset(entry);
      h.medeleg = MEDELEG_MASK & ~(1 << Exc.EcallS);
      h.mideleg = S_INTS;
      h.mcounteren = 7;
      // U-mode may read the time CSR (the vDSO's clock_gettime does). Linux's SBI PMU driver
      // sets this itself; without the SBI PMU extension nothing would, so firmware's part is ours.
      h.scounteren = 2;
      h.scratch[5] = MENVCFG_HI_STCE;
      h.openPmp(); // S-mode needs a PMP entry (privileged spec 3.7.1), as firmware leaves one
      h.setPriv(PRIV_S);
      h.state = h.hartId === 0 ? HartState.Started : HartState.Stopped;
    }
  } else {
    // Firmware or bare metal: every hart starts in M-mode at the entry point, as from a reset
    // vector; a0 = hartid, a1 = DTB, a2 = fw_dynamic_info when there is a kernel to hand over to.
    let info = 0;
    if (c.kernel) {
      info = dtbAt - FW_DYNAMIC_INFO.size;
      const v = new DataView(ram.buffer, ram.byteOffset + info - ram.base, FW_DYNAMIC_INFO.size);
      v.setBigUint64(FW_DYNAMIC_INFO.magic, FW_DYNAMIC_MAGIC, true);
      v.setBigUint64(FW_DYNAMIC_INFO.version, 2n, true);
      v.setBigUint64(FW_DYNAMIC_INFO.nextAddr, BigInt(kernelEntry), true);
      v.setBigUint64(FW_DYNAMIC_INFO.nextMode, 1n, true); // S-mode
      v.setBigUint64(FW_DYNAMIC_INFO.options, 0n, true);
      v.setBigInt64(FW_DYNAMIC_INFO.bootHart, -1n, true); // any hart
    }
    for (const h of m.harts) {
      h.reset(entry);
      h.setPriv(PRIV_M);
      h.state = HartState.Started;
    }
    setArg(m.harts, 2, info);
  }
  for (const h of m.harts) {
    h.x[20] = h.hartId; // a0
    h.x[21] = 0;
    h.x[22] = dtbAt | 0; // a1
    h.x[23] = Math.floor(dtbAt / 2 ** 32);
  }
  c.kernel = c.initrd = c.firmware = undefined;
  return m;
}

/**
 * The board's interrupt controllers and what devices wire into: the PLIC, or (aia) an IMSIC with
 * an M- and an S-level interrupt file per hart, reached by the harts' AIA CSRs, and the APLIC
 * whose MSIs are 32-bit writes on the bus, as any bus master's.
 */
function interruptControllers(
  m: Machine,
  irqchip: IrqChip,
): {
  wired: WiredIrqController;
  devices: [number, MmioDevice & Required<Pick<MmioDevice, "describe">>][];
  aplicRoot?: AplicDomain;
} {
  if (irqchip === "plic") {
    const plic = new Plic(m.harts);
    return { wired: plic, devices: [[MEMMAP.plic, plic]] };
  }
  const mFiles = m.harts.map((h) => new ImsicFile(h, MIP_MEIP));
  const sFiles = m.harts.map((h) => new ImsicFile(h, MIP_SEIP));
  m.harts.forEach((h, i) => (h.aia = new HartImsic(mFiles[i]!, sFiles[i]!)));
  const aplic = createAplic((addr, data) => void m.bus.write(addr, 4, data));
  return {
    wired: aplic.m,
    aplicRoot: aplic.m,
    devices: [
      [APLIC_M_BASE, aplic.m],
      [APLIC_S_BASE, aplic.s],
      [IMSIC_LAYOUT.mBase, new Imsic("m", mFiles, m.harts.length)],
      [IMSIC_LAYOUT.sBase, new Imsic("s", sFiles, m.harts.length)],
    ],
  };
}

/** Corral as the SBI of a directly booted kernel. */
function directSbi(m: Machine, ram: GuestRam): (h: Machine["harts"][number]) => void {
  const sbi = new Sbi({
    harts: m.harts,
    now: () => m.clock.ticks(),
    ramSlice: (pa, len) => (ram.contains(pa, len) ? ram.slice(pa, len) : undefined),
    consoleWrite: (b) => m.consoleWrite(b),
    // Console input goes to the UART; the SBI debug console reads nothing.
    consoleRead: () => -1,
    systemReset: (kind, code) => m.finish(kind === "poweroff" ? { kind: "poweroff", code } : { kind: "reset" }),
    wake: (h) => m.wake(h),
  });
  return (h) => sbi.call(h);
}

function setArg(harts: Machine["harts"], i: number, v: number): void {
  for (const h of harts) {
    h.x[20 + 2 * i] = v | 0;
    h.x[21 + 2 * i] = Math.floor(v / 2 ** 32);
  }
}

function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}
