/**
 * `corral vm memory NAME SIZE`: set the memory target of a running VM through its virtio-balloon
 * (the guest gives pages back, and the host drops them).
 */
import { parseVerbArgs, usageError } from "../args.js";
import { VmClient } from "../vm/client.js";
import { SIZE_HELP, parseSize } from "../size.js";
import { limitMain } from "./vm-limit.js";

export const VM_USAGE = `Usage: corral vm memory NAME SIZE
       corral vm limit NAME [DEVICE LIMITS|off]   (rate limits of disks and NICs: corral vm limit --help)

Set how much memory the guest of running VM NAME may use (e.g. 256M): at most its --memory, and
at least what its kernel and guest agent need (128M for a 512M VM; the error says the range).
The guest's balloon driver gives the rest back to the host; prints the result. Without SIZE,
prints the current figures: the balloon, and how the guest's RAM sits in host memory (resident,
private, shared with other processes, merged by KSM; see 'corral host ksm'). ${SIZE_HELP}.
`;

const mib = (n: number | undefined): string => (n === undefined ? "-" : `${Math.round(n / 2 ** 20)}M`);

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "limit") return limitMain(argv.slice(1));
  // A negative SIZE (-5) reaches parseSize, which refuses it as negative (args.ts).
  const { values, positionals } = parseVerbArgs("vm", argv, { help: { type: "boolean", short: "h" } });
  if (values.help === true) {
    process.stdout.write(VM_USAGE);
    return 0;
  }
  const [sub, name, size, extra] = positionals;
  if (sub !== "memory" || name === undefined || extra !== undefined)
    throw usageError(
      "usage: corral vm memory NAME [SIZE] or corral vm limit NAME [DEVICE LIMITS]; see 'corral vm --help'",
    );
  const client = new VmClient(name);
  const m = size === undefined ? await client.memory() : await client.setMemory(parseSize(size, "SIZE"));
  process.stdout.write(
    `${name}: memory ${mib(m.memory)}, target ${mib(m.targetBytes)}, balloon ${mib(m.balloonPages * 4096)}, host resident ${mib(m.hostResident)}\n`,
  );
  const p = m.pages;
  if (p)
    process.stdout.write(
      `${name}: guest RAM in host: resident ${mib(p.resident)}, private ${mib(p.private)}, shared ${mib(p.shared)}` +
        `${p.ksm !== undefined ? `, merged by KSM ${mib(p.ksm)}` : ""}; share-memory ${p.mergeable ? "on" : "off"}; process PSS ${mib(p.processPss)}\n`,
    );
  return 0;
}
