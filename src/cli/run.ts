/**
 * `corral run`: boot a guest. With no command, an interactive serial console; with `-- cmd ...`,
 * run the command in the guest, print its output and exit with its status.
 */
import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { CorralError } from "../errors.js";
import { buildMachine, parseGuestConsole, type GuestConsole, type NamedBlob } from "../machine/builder.js";
import { signalStatus, type MachineExit } from "../machine/machine.js";
import { CommandConsole, commandStatus, concatArchives, defaultCmdline } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage } from "../image/pull.js";
import { VirtioBlk } from "../devices/virtio/blk.js";
import { checkDisks, openDisk, parseDiskSpec } from "../devices/virtio/disk-open.js";
import { attachConsole } from "./console.js";
import { openNets, withNetCmdline } from "../net/attach.js";
import { openVsock, parseVsockSpec, type VsockSpec } from "../net/vsock-attach.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { runDetached } from "./vm.js";
import { negativeValues, parseSize } from "./args.js";

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
  --memory SIZE     guest RAM, e.g. 512M or 1G; a plain number is MiB (default: 512M)
  --cpus N          number of harts, 1 to 8 (default: 1)
  --disk FILE[,ro][,format=raw|overlay]
                    a virtio-blk disk; repeat for more disks. The guest sees /dev/vda,
                    /dev/vdb, ... ',ro' attaches it read-only. An image Corral made ('corral
                    image build', 'image overlay') is known by Corral's record FILE.corral.json;
                    any other is raw unless format=overlay says so (docs/security.md)
  --net SPEC        a virtio-net NIC; repeat for more (the guest sees eth0, eth1, ...):
                    switch:NAME[,mac=MAC][,offload=off]  the host-local switch NAME shared by
                                           VMs, with DHCP; TCP checksum and segmentation
                                           offloads unless offload=off
                    tap[:NAME][,mac=MAC]   a TAP interface on the host (root); give the guest an
                                           address with --append "... ip=ADDR::GW:MASK"
  --vsock PATH[,cid=N]
                    a virtio-vsock device (guest CID N, default 3) on the Unix socket PATH,
                    in Firecracker's convention: a host program connects to PATH and writes
                    "CONNECT <port>\\n" to reach the guest's listener on that port (it reads
                    "OK <hostport>\\n" first); a guest connection to CID 2 port P reaches the
                    host program listening on PATH_P
  --firmware FILE   M-mode firmware (e.g. OpenSBI fw_dynamic.bin) that boots the kernel;
                    without a kernel, a bare-metal ELF run from its entry point, whose exit
                    status comes from the test finisher device
  -d, --detach      run the VM in the background (see 'corral ps', 'exec', 'console', 'stop')
  --name NAME       name of a detached VM (default: a random one)
  -h, --help        show this help

With '-- command ...' (default guest only), the command runs in the guest through /bin/sh and
corral exits with its exit status. Without a command, the guest console is attached to this
terminal: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A.
`;

function readBlob(path: string, what: string, flag: string): NamedBlob {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CorralError("NOT_A_FILE", `${what} ${path} is not a regular file: pass a file to ${flag}`, { exitCode: 2 });
    size = st.size;
  } catch (e) {
    if (e instanceof CorralError) throw e;
    throw new CorralError("FILE_NOT_FOUND", `${what} ${path} does not exist or cannot be read: check the path given to ${flag}`, { exitCode: 2 });
  }
  if (size === 0) throw new CorralError("FILE_EMPTY", `${what} ${path} is empty: pass a real ${what} to ${flag}`, { exitCode: 2 });
  return { name: path, data: new Uint8Array(readFileSync(path)) };
}

export interface RunOptions {
  kernel?: string | undefined;
  initrd?: string | undefined;
  append?: string | undefined;
  memory: number;
  cpus: number;
  firmware?: string | undefined;
  /** The guest's console device (--console). */
  console: GuestConsole;
  /** FILE[,ro] for each --disk. */
  disks: string[];
  /** --net specs (net/attach.ts). */
  nets: string[];
  /** --vsock PATH[,cid=N] (net/vsock-attach.ts). */
  vsock?: VsockSpec | undefined;
  command: string[];
  detach: boolean;
  name?: string | undefined;
}

const RUN_OPTIONS = {
  kernel: { type: "string" },
  initrd: { type: "string" },
  append: { type: "string" },
  memory: { type: "string", default: "512M" },
  cpus: { type: "string", default: "1" },
  firmware: { type: "string" },
  console: { type: "string", default: "ttyS0" },
  disk: { type: "string", multiple: true },
  net: { type: "string", multiple: true },
  vsock: { type: "string" },
  help: { type: "boolean", short: "h" },
  detach: { type: "boolean", short: "d" },
  name: { type: "string" },
} as const;

export function parseRunArgs(argv: string[]): RunOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({ args: negativeValues(argv, RUN_OPTIONS), allowPositionals: true, strict: true, options: RUN_OPTIONS });
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new CorralError("BAD_ARGS", `${msg}; see 'corral run --help'`, { exitCode: 2 });
  }
  const v = parsed.values;
  if (v.help) return "help";
  const sep = argv.indexOf("--");
  const command = sep >= 0 ? argv.slice(sep + 1) : [];
  if (sep < 0 && parsed.positionals.length > 0) {
    throw new CorralError("BAD_ARGS", `unexpected argument '${parsed.positionals[0]}': put the guest command after '--'`, { exitCode: 2 });
  }
  if (!/^\d+$/.test(v.cpus)) throw new CorralError("BAD_CPUS", `--cpus must be a whole number from 1 to 8 (got '${v.cpus}')`, { exitCode: 2 });
  return {
    kernel: v.kernel,
    initrd: v.initrd,
    append: v.append,
    memory: parseSize(v.memory),
    cpus: Number(v.cpus),
    firmware: v.firmware,
    console: parseGuestConsole(v.console),
    disks: v.disk ?? [],
    nets: v.net ?? [],
    vsock: v.vsock === undefined ? undefined : parseVsockSpec(v.vsock),
    command,
    detach: v.detach === true,
    name: v.name,
  };
}

export async function main(argv: string[]): Promise<number> {
  const opts = parseRunArgs(argv);
  if (opts === "help") {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (opts.detach || opts.name !== undefined) return runDetached(opts);
  // A bad disk is one line before anything else happens (the default image is not even fetched);
  // the open below warns, if there is anything to warn about.
  checkDisks(opts.disks, { warn: () => {} });
  let kernel = opts.kernel ? readBlob(opts.kernel, "kernel", "--kernel") : undefined;
  let initrd = opts.initrd ? readBlob(opts.initrd, "initrd", "--initrd") : undefined;
  const firmware = opts.firmware ? readBlob(opts.firmware, "firmware", "--firmware") : undefined;
  const useDefault = !kernel && !firmware;
  if (opts.command.length > 0 && (kernel || initrd) && !useDefault) {
    throw new CorralError("BAD_ARGS", "a guest command needs the default guest image: drop --kernel/--initrd or the command", { exitCode: 2 });
  }
  if (useDefault) {
    const img = await ensureDefaultImage();
    kernel = { name: img.kernel, data: new Uint8Array(readFileSync(img.kernel)) };
    initrd ??= { name: img.initramfs, data: new Uint8Array(readFileSync(img.initramfs)) };
  }
  const command = opts.command.length > 0 ? shellQuote(opts.command) : null;
  if (command !== null && initrd) {
    // The kernel unpacks concatenated cpio archives in order: the command rides in a second one.
    initrd = { name: initrd.name, data: concatArchives(initrd.data, commandArchive(command)) };
  }

  const disks = openDisks(opts.disks);
  const nets = await openNets(opts.nets).catch((e: unknown) => {
    for (const d of disks) d.close();
    throw e;
  });
  const vsock = opts.vsock ? await openVsock(opts.vsock).catch((e: unknown) => {
    for (const d of [...disks, ...nets.devices]) d.close();
    throw e;
  }) : undefined;
  const devices: VirtioDevice[] = [...disks, ...nets.devices, ...(vsock ? [vsock] : [])];
  const out = command === null ? new PassThroughSink() : new CommandConsole((t) => process.stdout.write(Buffer.from(t, "latin1")));
  let machine: ReturnType<typeof buildMachine>;
  try {
    machine = buildMachine({
    memory: opts.memory,
    cpus: opts.cpus,
    kernel,
    initrd,
    firmware,
    cmdline: kernel ? withNetCmdline(opts.append ?? defaultCmdline(opts.console), nets.cmdline) : opts.append,
      console: (b) => out.write(b),
      consoleDevice: opts.console,
      virtio: devices,
    });
  } catch (e) {
    for (const d of devices) d.close();
    throw e;
  }
  const interactive = command === null && kernel !== undefined;
  const con = interactive ? attachConsole({ onInput: (b) => machine.consoleInput(b), onQuit: () => machine.stop() }) : null;
  const onInt = (): void => machine.stop("SIGINT");
  const onTerm = (): void => machine.stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  let exit: MachineExit;
  try {
    exit = await machine.run();
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

/** A virtio-blk device per --disk, named vda, vdb, ... as the guest will see them. */
function openDisks(specs: string[]): VirtioBlk[] {
  const devs: VirtioBlk[] = [];
  try {
    for (const [i, spec] of specs.entries()) devs.push(new VirtioBlk({ disk: openDisk(parseDiskSpec(spec)), name: `vd${String.fromCharCode(97 + i)}` }));
  } catch (e) {
    for (const d of devs) d.close();
    throw e;
  }
  return devs;
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
