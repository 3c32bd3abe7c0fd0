/**
 * `corral vm memory NAME SIZE`: set the memory target of a running VM through its virtio-balloon
 * (the guest gives pages back, and the host drops them). Also the detached half of `corral run -d`.
 */
import { CorralError } from "../errors.js";
import { launchVm } from "../vm/launch.js";
import { VmClient } from "../vm/client.js";
import { parseSize } from "./args.js";
import type { RunOptions } from "./run.js";

export const VM_USAGE = `Usage: corral vm memory NAME SIZE

Set how much memory the guest of running VM NAME may use (e.g. 256M): at most its --memory, and
at least what its kernel and guest agent need (128M for a 512M VM; the error says the range).
The guest's balloon driver gives the rest back to the host; prints the result. Without SIZE,
prints the current figures.
`;

const mib = (n: number | undefined): string => (n === undefined ? "-" : `${Math.round(n / 2 ** 20)}M`);

export async function main(argv: string[]): Promise<number> {
  // Not parseArgs: a negative SIZE (-5) is a value to refuse as negative, not a flag.
  const flags = argv.filter((a) => a.startsWith("-") && !/^-\d/.test(a));
  const positionals = argv.filter((a) => !flags.includes(a));
  if (flags.some((f) => f === "--help" || f === "-h")) {
    process.stdout.write(VM_USAGE);
    return 0;
  }
  if (flags.length > 0) throw new CorralError("BAD_ARGS", `unknown flag '${flags[0]}'; see 'corral vm --help'`, { exitCode: 2 });
  const [sub, name, size, extra] = positionals;
  if (sub !== "memory" || name === undefined || extra !== undefined) throw new CorralError("BAD_ARGS", "usage: corral vm memory NAME [SIZE]; see 'corral vm --help'", { exitCode: 2 });
  const client = new VmClient(name);
  const m = size === undefined ? await client.memory() : await client.setMemory(parseSize(size, "SIZE"));
  process.stdout.write(`${name}: memory ${mib(m.memory)}, target ${mib(m.targetBytes)}, balloon ${mib(m.balloonPages * 4096)}, host resident ${mib(m.hostResident)}\n`);
  return 0;
}

/** `corral run -d [--name NAME]`: start the VM process and return once the guest is up. */
export async function runDetached(opts: RunOptions): Promise<number> {
  if (opts.command.length > 0) throw new CorralError("BAD_ARGS", "a detached VM takes no command: start it, then use 'corral exec NAME -- cmd'", { exitCode: 2 });
  if (opts.firmware !== undefined) throw new CorralError("BAD_ARGS", "--firmware is not supported with --detach", { exitCode: 2 });
  const client = await launchVm({ name: opts.name, memory: opts.memory, cpus: opts.cpus, disks: opts.disks, nets: opts.nets, console: opts.console, kernel: opts.kernel, initrd: opts.initrd, append: opts.append });
  process.stdout.write(`${client.name}\n`);
  return 0;
}
