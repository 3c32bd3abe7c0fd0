/** `corral stop NAME...`: graceful power-off through the guest agent, forced after a timeout. */
import { stopVm } from "../vm/launch.js";
import { parseVerbArgs } from "../args.js";
import { CliError } from "./errors.js";

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseVerbArgs("stop", argv, {
    time: { type: "string", short: "t", default: "10" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: corral stop [-t SECONDS] NAME...\n\nPower VMs off: the guest syncs and powers off; after SECONDS (default 10) it is stopped by force.\n",
    );
    return 0;
  }
  if (positionals.length === 0) throw new CliError("USAGE", "name the VM to stop: corral stop NAME", { exitCode: 2 });
  if (!/^\d+(\.\d+)?$/.test(values.time))
    throw new CliError("USAGE", `-t must be a number of seconds (got '${values.time}')`, { exitCode: 2 });
  for (const name of positionals) {
    const how = await stopVm(name, { timeoutMs: Number(values.time) * 1000 });
    process.stdout.write(how === "graceful" ? `${name}\n` : `${name} (killed)\n`);
  }
  return 0;
}
