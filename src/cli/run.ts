/**
 * `corral run`: boot a guest. With no command, an interactive serial console; with `-- cmd ...`,
 * run the command in the guest, print its output and exit with its status.
 */
import { FieldError } from "../errors.js";
import { signalStatus, type MachineExit } from "../machine/machine.js";
import { CommandConsole, commandStatus, concatArchives, defaultCmdline } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { SIZE_HELP } from "../size.js";
import { composeVm } from "../vm/compose.js";
import { vmSpec } from "../vm/options.js";
import type { VmSpec } from "../vm/spec.js";
import { parseVerbArgs } from "../args.js";
import { checkDisks } from "../disk/open.js";
import { diskSpecOf } from "../devices/kinds/blk.js";
import { checkShares } from "../devices/virtio/fuse/share.js";
import { attachConsole } from "./console.js";
import { CliError } from "./errors.js";
import type { SymbolSource } from "../profile/profile.js";

export const RUN_USAGE = `Usage: corral run [options] [-- command [args...]]

Boot a 64-bit RISC-V Linux guest. Without options, boots Corral's default guest (Debian's
riscv64 kernel with a busybox initramfs; fetched on first use) to an interactive shell.

Options:
  --kernel FILE     Linux kernel to boot: a RISC-V Image or vmlinux ELF (default: the default guest's)
  --initrd FILE     initramfs to load (default: the default guest's, when no --kernel is given)
  --append STRING   kernel command line (default: "${defaultCmdline()}";
                    with --console hvc0, console=hvc0 instead)
  --console DEV     the guest's console (kernel, shell, this terminal): ttyS0, the UART
                    (default), or hvc0, virtio-console port 0; the UART stays on the board
  --irqchip CHIP    the board's interrupt controllers, as QEMU virt's: plic (default), or aia,
                    the Advanced Interrupt Architecture (aia=aplic-imsic: an APLIC in MSI mode
                    and an IMSIC per hart; message-signalled interrupts)
  --image NAME      boot the root disk NAME of the image cache ('corral image build --output
                    NAME', 'corral image ls'): attached first, as /dev/vda, with root=/dev/vda
                    added to the command line; the VM writes to it
  --memory SIZE     guest RAM, e.g. 512M or 1G (default: 512M)
  --cpus N          number of harts, 1 to 8 (default: 1)
  --disk FILE[,ro][,format=raw|overlay]
                    a virtio-blk disk; repeat for more disks. The guest sees /dev/vda,
                    /dev/vdb, ... ',ro' attaches it read-only. An image Corral made ('corral
                    image build', 'image overlay') is known by Corral's record FILE.corral.json;
                    any other is raw unless format=overlay says so (docs/security.md).
                    Rate limits: ,bw=SIZE (bytes per second, e.g. bw=50M), ,iops=N, ,burst=SIZE;
                    a running VM's change with 'corral vm limit'
  --net SPEC        a virtio-net NIC; repeat for more (the guest sees eth0, eth1, ...).
                    Without --net, one user-mode NIC ('user'); 'none' for no NIC:
                    user[,host-loopback=on][,dns=IP[:PORT]][,mac=MAC]  user-mode networking, as
                                           QEMU's -netdev user: the guest gets 10.0.2.15 by
                                           DHCP, DNS at 10.0.2.3 from the host's resolver (or
                                           dns=), TCP and UDP through host sockets (no root);
                                           the host's loopback only with host-loopback=on, at
                                           the gateway address 10.0.2.2
                    switch:NAME[,mac=MAC][,offload=off]  the host-local switch NAME shared by
                                           VMs, with DHCP; TCP checksum and segmentation
                                           offloads unless offload=off
                    tap[:NAME][,mac=MAC]   a TAP interface on the host (root); give the guest an
                                           address with --append "... ip=ADDR::GW:MASK"
                    each with ,bw=SIZE (bytes per second each way), ,pps=N (frames per second)
                    switch:NAME,transport=pci,vfs=N: SR-IOV, N virtual functions (1 to 32) the
                                           guest enables with sriov_numvfs (with --irqchip aia;
                                           the host sets each with 'corral vf')
  -p, --publish [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]
                    forward a host port (on HOSTIP, default 127.0.0.1) to the guest's port,
                    through the user-mode NIC; repeat for more (TCP unless /udp)
  --vsock PATH[,cid=N]
                    a virtio-vsock device (guest CID N, default 3) on the Unix socket PATH,
                    in Firecracker's convention: a host program connects to PATH and writes
                    "CONNECT <port>\\n" to reach the guest's listener on that port (it reads
                    "OK <hostport>\\n" first); a guest connection to CID 2 port P reaches the
                    host program listening on PATH_P
  --share HOST_DIR:TAG[,ro]
                    share the host directory HOST_DIR with the guest through virtio-fs; the
                    guest mounts it with 'mount -t virtiofs TAG /mnt'. ',ro' refuses every
                    write. Repeat for more shares (each its own TAG, at most 36 bytes)
  --firmware FILE   M-mode firmware (e.g. OpenSBI fw_dynamic.bin) that boots the kernel;
                    without a kernel, a bare-metal ELF run from its entry point, whose exit
                    status comes from the test finisher device
  --share-memory    offer the guest's RAM to the host kernel's same-page merging (KSM; start it
                    with 'corral host ksm on'); off by default, or CORRAL_SHARE_MEMORY=1 makes
                    it the host's default: merged pages let VMs time each other's memory
  --transport mmio|pci
                    how the virtio devices reach the guest: virtio-mmio slots (default) or
                    virtio-pci functions behind a PCIe host bridge (lspci lists them); one
                    device alone with ,transport=pci on its --disk, --net, --vsock or --share
  --profile FILE    sample the guest's pc and this process's time while the VM runs, and when it
                    stops write FILE: the hottest kernel symbols (the kernel's System.map), the
                    time by privilege mode and by guest process, and the host's phases (compiled
                    code, interpreter, compiling, devices, idle); see docs/benchmarks.md
  -d, --detach      run the VM in the background (see 'corral ps', 'exec', 'console', 'stop')
  --name NAME       name of a detached VM (default: a random one)
  -h, --help        show this help

With '-- command ...' (default guest only), the command runs in the guest through /bin/sh and
corral exits with its exit status. Without a command, the guest console is attached to this
terminal: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A.

${SIZE_HELP}.
Every VM has, after its disks, NICs (one user-mode NIC unless --net says otherwise), vsock and
shares, a virtio-console (the guest agent's port), a virtio-balloon and a virtio-rng: at most five
of those fit on virtio-mmio; with --transport pci, up to 28.
`;

/** The flag that sets each field of the spec (errors about a field name it so). */
const FLAGS: Record<string, string> = {
  name: "--name",
  harts: "--cpus",
  memory: "--memory",
  console: "--console",
  irqchip: "--irqchip",
  "boot.kernel": "--kernel",
  "boot.initrd": "--initrd",
  "boot.cmdline": "--append",
  "boot.firmware": "--firmware",
  image: "--image",
  transport: "--transport",
  devices: "--disk/--net/--vsock/--share",
};

/** An error about a spec field, told in flags. */
export function withFlagNames(e: unknown): unknown {
  if (!(e instanceof FieldError)) return e;
  const flag =
    FLAGS[e.field] ??
    (/^devices\[\d+\]\.tag$/.test(e.field) ? "--share" : e.field.startsWith("devices[") ? FLAGS.devices : undefined);
  return flag === undefined ? e : e.renamed(flag);
}

export interface RunArgs {
  spec: VmSpec;
  command: string[];
  detach: boolean;
  /** --profile FILE, as given. */
  profile: string | undefined;
}

export function parseRunArgs(argv: string[]): RunArgs | "help" {
  const parsed = parseVerbArgs("run", argv, {
    kernel: { type: "string" },
    initrd: { type: "string" },
    append: { type: "string" },
    memory: { type: "string", default: "512M" },
    cpus: { type: "string", default: "1" },
    firmware: { type: "string" },
    image: { type: "string" },
    console: { type: "string", default: "ttyS0" },
    irqchip: { type: "string" },
    disk: { type: "string", multiple: true },
    net: { type: "string", multiple: true },
    publish: { type: "string", multiple: true, short: "p" },
    vsock: { type: "string" },
    share: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
    detach: { type: "boolean", short: "d" },
    name: { type: "string" },
    "share-memory": { type: "boolean" },
    transport: { type: "string" },
    profile: { type: "string" },
  });
  const v = parsed.values;
  if (v.help) return "help";
  const sep = argv.indexOf("--");
  const command = sep >= 0 ? argv.slice(sep + 1) : [];
  if (sep < 0 && parsed.positionals.length > 0) {
    throw new CliError("USAGE", `unexpected argument '${parsed.positionals[0]}': put the guest command after '--'`, {
      exitCode: 2,
    });
  }
  if (!/^-?\d+$/.test(v.cpus))
    throw new CliError("BAD_CPUS", `--cpus must be a whole number from 1 to 8 (got '${v.cpus}')`, { exitCode: 2 });
  const spec = vmSpec({
    name: v.name,
    memory: v.memory,
    cpus: Number(v.cpus),
    console: v.console,
    irqchip: v.irqchip,
    kernel: v.kernel,
    initrd: v.initrd,
    append: v.append,
    firmware: v.firmware,
    image: v.image,
    disks: v.disk,
    nets: v.net,
    publish: v.publish,
    vsock: v.vsock,
    ...(v["share-memory"] === true ? { shareMemory: true } : {}),
    shares: v.share,
    transport: v.transport,
  });
  return { spec, command, detach: v.detach === true, profile: v.profile };
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    throw withFlagNames(e);
  }
}

async function run(argv: string[]): Promise<number> {
  const opts = parseRunArgs(argv);
  if (opts === "help") {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const { spec } = opts;
  // Refused before anything else, so a typo costs no boot.
  // Loaded only for a profile: the profiler's host side takes node:inspector.
  const profiler = opts.profile !== undefined ? await import("../profile/profile.js") : undefined;
  const profilePath = opts.profile !== undefined ? profiler?.checkProfilePath(opts.profile) : undefined;
  if (opts.detach || spec.name !== undefined) return runDetached(opts);
  // A bad disk is one line before anything else happens (the default image is not even fetched);
  // the open below warns, if there is anything to warn about.
  checkDisks(
    spec.devices.flatMap((d) => (d.kind === "blk" ? [diskSpecOf(d)] : [])),
    { warn: () => {} },
  );
  checkShares(spec.devices);
  if (opts.command.length > 0 && (spec.boot.kernel !== undefined || spec.boot.firmware !== undefined)) {
    throw new CliError(
      "USAGE",
      "a guest command needs the default guest image: drop --kernel/--firmware or the command",
      { exitCode: 2 },
    );
  }
  const command = opts.command.length > 0 ? shellQuote(opts.command) : null;
  const out =
    command === null
      ? new PassThroughSink()
      : new CommandConsole((t) => process.stdout.write(Buffer.from(t, "latin1")));
  const { machine, defaultGuest } = await composeVm(spec, {
    console: (b) => out.write(b),
    // A VM in the foreground has no name: nothing can fork it.
    forkable: false,
    // The kernel unpacks concatenated cpio archives in order: the command rides in a second one.
    ...(command !== null
      ? { initrdAppend: (initrd: Uint8Array) => concatArchives(initrd, commandArchive(command)) }
      : {}),
  });
  const profiling =
    profiler && profilePath !== undefined
      ? profiler.startProfile(machine, profilePath, await symbolSource(spec, defaultGuest, profiler.systemMapBeside))
      : null;
  const interactive = command === null && (defaultGuest || spec.boot.kernel !== undefined);
  const con = interactive
    ? attachConsole({ onInput: (b) => machine.consoleInput(b), onQuit: () => machine.stop() })
    : null;
  const onInt = (): void => machine.stop("SIGINT");
  const onTerm = (): void => machine.stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  let exit: MachineExit;
  try {
    exit = await machine.run();
    profiling?.finish(exit);
  } finally {
    out.flush();
    con?.close();
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    machine.close();
  }
  if (interactive && exit.kind === "stopped") process.stdout.write("\r\n");
  return exitStatus(exit, out instanceof CommandConsole ? out : null);
}

/** `corral run -d [--name NAME]`: start the VM process and return once the guest is up. */
async function runDetached(opts: RunArgs): Promise<number> {
  if (opts.profile !== undefined)
    throw new CliError("USAGE", "--profile profiles a VM run in the foreground: drop -d/--name or --profile", {
      exitCode: 2,
    });
  if (opts.command.length > 0)
    throw new CliError("USAGE", "a detached VM takes no command: start it, then use 'corral exec NAME -- cmd'", {
      exitCode: 2,
    });
  if (opts.spec.boot.firmware !== undefined)
    throw new CliError("USAGE", "--firmware is not supported with --detach", { exitCode: 2 });
  // Loaded here: a run in the foreground needs none of the VM process's launcher and client.
  const { launchVm } = await import("../vm/launch.js");
  const client = await launchVm(opts.spec);
  process.stdout.write(`${client.name}\n`);
  return 0;
}

/**
 * The run's exit status, truthful for every way a machine ends:
 * - poweroff: the guest's own code (SBI SRST: 0, or 1 for a system failure; the test finisher:
 *   its code, as QEMU exits with it);
 * - reset: 0 with a line saying so; Corral does not reboot, as QEMU with -no-reboot, which exits 0;
 * - stopped by SIGINT/SIGTERM: 128 + the signal's number, as a shell reports a command that signal
 *   ended, with a line saying so; by Ctrl-A X: 0, as QEMU's quit;
 * - panic, fault: a CorralError (status 1) with the message.
 */
function exitStatus(exit: MachineExit, cmd: CommandConsole | null): number {
  if (exit.kind === "stopped" && exit.signal !== undefined) process.stderr.write(`corral: stopped by ${exit.signal}\n`);
  if (cmd) return commandStatus(exit, cmd);
  switch (exit.kind) {
    case "poweroff":
      return exit.code;
    case "reset":
      process.stderr.write("corral: the guest asked for a reset; stopping\n");
      return 0;
    case "stopped":
      return exit.signal === undefined ? 0 : signalStatus(exit.signal);
    case "panic":
    case "fault":
      return commandStatus(exit, new CommandConsole(() => {}));
  }
}

/** Where the profile's kernel symbols come from: the default image's System.map, or one beside --kernel. */
async function symbolSource(
  spec: VmSpec,
  defaultGuest: boolean,
  systemMapBeside: (kernel: string) => SymbolSource,
): Promise<SymbolSource> {
  if (spec.boot.kernel !== undefined) return systemMapBeside(spec.boot.kernel);
  if (!defaultGuest) return { note: "no kernel: firmware pcs are raw addresses" };
  const { ensureDefaultImage } = await import("../image/pull.js");
  const { ensureSystemMap } = await import("../image/system-map.js");
  let systemMap: string | undefined;
  try {
    systemMap = await ensureSystemMap(await ensureDefaultImage());
  } catch (e) {
    // A read-only image cache, say: the profile is still worth having, with raw addresses.
    return {
      note: `no System.map for the default kernel (${e instanceof Error ? e.message : String(e)}): kernel pcs are raw addresses`,
    };
  }
  return systemMap !== undefined
    ? { systemMap }
    : { note: "the default kernel carries no symbol table: kernel pcs are raw addresses" };
}

/** Quote argv words for /bin/sh so the guest runs exactly them. */
export function shellQuote(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Interactive console and bare-metal runs: guest bytes straight to stdout, batched. */
class PassThroughSink {
  private parts: Buffer[] = [];
  private timer: NodeJS.Immediate | null = null;
  write(b: Uint8Array): void {
    this.parts.push(Buffer.from(b));
    this.timer ??= setImmediate(() => this.flush());
  }
  flush(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
    if (this.parts.length) process.stdout.write(Buffer.concat(this.parts));
    this.parts = [];
  }
}
