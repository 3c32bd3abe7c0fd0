/** `corral snapshot NAME DIR`: pause a running VM, write its snapshot into DIR, let it run on. */
import { CliError } from "./errors.js";
import { snapshotVm } from "../snapshot/vm.js";
import { parseVerbArgs } from "../args.js";

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseVerbArgs("snapshot", argv, {
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: corral snapshot NAME DIR\n\nPause VM NAME, write its RAM, CPU and device state and a frozen point of its disks into\nthe new directory DIR, and let it run on. 'corral restore DIR' starts a VM from it.\n",
    );
    return 0;
  }
  if (positionals.length !== 2)
    throw new CliError("USAGE", "name the VM and a new directory: corral snapshot NAME DIR", { exitCode: 2 });
  const info = await snapshotVm(positionals[0]!, positionals[1]!);
  process.stdout.write(`${info.dir}\n`);
  return 0;
}
