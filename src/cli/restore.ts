/** `corral restore DIR [--name N]`: start a VM from a snapshot, where the snapshot left off. */
import { CliError } from "./errors.js";
import { restoreVm } from "../snapshot/vm.js";
import { parseVerbArgs } from "../args.js";

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseVerbArgs("restore", argv, {
    name: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: corral restore DIR [--name N]\n\nStart a VM in the background from the snapshot in DIR ('corral snapshot'): its RAM is mapped\ncopy-on-write from the snapshot, its disks are new overlays on the snapshot's frozen ones.\nPrints the VM's name (default a random one).\n",
    );
    return 0;
  }
  if (positionals.length !== 1)
    throw new CliError("USAGE", "name the snapshot's directory: corral restore DIR [--name N]", { exitCode: 2 });
  const client = await restoreVm(positionals[0]!, { name: values.name });
  process.stdout.write(`${client.name}\n`);
  return 0;
}
