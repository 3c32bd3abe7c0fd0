/** `corral rm [-f] NAME...`: remove VMs that ended (their console log and record of how). */
import { stopVm } from "../vm/launch.js";
import { checkName, removeVm, vmActivity } from "../vm/state.js";
import { parseVerbArgs } from "../args.js";
import { CliError } from "./errors.js";

const USAGE = `Usage: corral rm [-f] NAME...

Remove VMs that ended ('corral ps -a' lists them): their directory, with the console log, goes.
A running VM is refused; with -f (--force) it is stopped first (as 'corral stop -t 10').
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseVerbArgs("rm", argv, {
    force: { type: "boolean", short: "f" },
    help: { type: "boolean", short: "h" },
  });
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0)
    throw new CliError("USAGE", "name the VM to remove: corral rm NAME ('corral ps -a' lists them)", {
      exitCode: 2,
    });
  for (const name of parsed.positionals) checkName(name);
  for (const name of parsed.positionals) {
    if (parsed.values.force && vmActivity(name) === "running") await stopVm(name);
    removeVm(name);
    process.stdout.write(`${name}\n`);
  }
  return 0;
}
