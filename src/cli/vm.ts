/**
 * `corral vm memory NAME SIZE`: set the memory target of a running VM through its virtio-balloon
 * (the guest gives pages back, and the host drops them). Also the detached half of `corral run -d`.
 */
import { CorralError } from "../errors.js";
import { VmClient } from "../vm/client.js";
import { parseVerbArgs } from "./args.js";
import { SIZE_HELP, parseSize } from "../size.js";

export const VM_USAGE = `Usage: corral vm memory NAME SIZE

Set how much memory the guest of running VM NAME may use (e.g. 256M; at most its --memory).
The guest's balloon driver gives the rest back to the host; prints the result.
${SIZE_HELP}.
`;

const mib = (n: number | undefined): string => (n === undefined ? "-" : `${Math.round(n / 2 ** 20)}M`);

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseVerbArgs("vm", argv, { help: { type: "boolean", short: "h" } });
  if (values.help) {
    process.stdout.write(VM_USAGE);
    return 0;
  }
  const [sub, name, size] = positionals;
  if (sub !== "memory" || name === undefined) throw new CorralError("USAGE", "usage: corral vm memory NAME [SIZE]; see 'corral vm --help'", { exitCode: 2 });
  const client = new VmClient(name);
  const m = size === undefined ? await client.memory() : await client.setMemory(parseSize(size, "SIZE"));
  process.stdout.write(`${name}: memory ${mib(m.memory)}, target ${mib(m.targetBytes)}, balloon ${mib(m.balloonPages * 4096)}, host resident ${mib(m.hostResident)}\n`);
  return 0;
}
