/** `corral fork NAME --count N`: N running clones of a running VM, sharing its memory copy-on-write. */
import { CliError } from "./errors.js";
import { forkEach } from "../snapshot/fork.js";
import { verbArgs } from "./verb.js";

export async function main(argv: string[]): Promise<number> {
  const args = verbArgs(
    "fork",
    argv,
    { count: { type: "string", short: "n", default: "1" } },
    {
      usage:
        "Usage: corral fork NAME [--count N]\n\nMake N (default 1) running clones of VM NAME that share its memory copy-on-write. Each has\nits own name (printed, one a line; also its hostname), VM generation ID (its kernel reseeds\nits RNG) and disk overlays; a NIC on a switch or a TAP gets its own MAC, port or TAP device\nand DHCP lease. Port forwards stay with VM NAME: the clones have none.\n\nEach clone's name is printed the moment it runs. If one fails to start, it leaves nothing\nbehind: the others are printed as they come, then its error, and the exit status is non-zero\n(the clones printed run on).\n",
      positionals: [1, 1],
      missing: "name the VM to fork: corral fork NAME --count N",
    },
  );
  if (!args) return 0;
  const { positionals, values } = args;
  if (!/^\d+$/.test(values.count))
    throw new CliError("USAGE", `--count must be a whole number (got '${values.count}')`, { exitCode: 2 });
  for await (const c of forkEach(positionals[0]!, Number(values.count))) process.stdout.write(`${c.client.name}\n`);
  return 0;
}
