/** `corral snapshot NAME DIR`: pause a running VM, write its snapshot into DIR, let it run on. */
import { snapshotVm } from "../snapshot/vm.js";
import { verbArgs } from "./verb.js";

export async function main(argv: string[]): Promise<number> {
  const args = verbArgs(
    "snapshot",
    argv,
    {},
    {
      usage:
        "Usage: corral snapshot NAME DIR\n\nPause VM NAME, write its RAM, CPU and device state and a frozen point of its disks into\nthe new directory DIR, and let it run on. 'corral restore DIR' starts a VM from it.\n",
      positionals: [2, 2],
      missing: "name the VM and a new directory: corral snapshot NAME DIR",
    },
  );
  if (!args) return 0;
  const { positionals } = args;
  const info = await snapshotVm(positionals[0]!, positionals[1]!);
  process.stdout.write(`${info.dir}\n`);
  return 0;
}
