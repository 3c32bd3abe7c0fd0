/** `corral stop NAME...`: graceful power-off through the guest agent, forced after a timeout. */
import { stopVm } from "../vm/launch.js";
import { CliError } from "./errors.js";
import { verbArgs } from "./verb.js";

export async function main(argv: string[]): Promise<number> {
  const args = verbArgs(
    "stop",
    argv,
    { time: { type: "string", short: "t", default: "10" } },
    {
      usage:
        "Usage: corral stop [-t SECONDS] NAME...\n\nPower VMs off: the guest syncs and powers off; after SECONDS (default 10) it is stopped by force.\n",
      positionals: [1, Infinity],
      missing: "name the VM to stop: corral stop NAME",
    },
  );
  if (!args) return 0;
  const { positionals, values } = args;
  if (!/^\d+(\.\d+)?$/.test(values.time))
    throw new CliError("USAGE", `-t must be a number of seconds (got '${values.time}')`, { exitCode: 2 });
  for (const name of positionals) {
    const how = await stopVm(name, { timeoutMs: Number(values.time) * 1000 });
    process.stdout.write(how === "graceful" ? `${name}\n` : `${name} (killed)\n`);
  }
  return 0;
}
