/** `corral restore DIR [--name N] [--limit DEVICE:LIMITS]...`: start a VM from a snapshot, where the snapshot left off. */
import { resolve } from "node:path";
import { restoreVm } from "../snapshot/vm.js";
import { readManifest } from "../snapshot/format.js";
import { usageError } from "../args.js";
import { verbArgs } from "./verb.js";
import { LIMIT_HELP, parseLimitText, type RateLimitSpec } from "../devices/kinds/limit.js";

const USAGE = `Usage: corral restore DIR [--name N] [--limit DEVICE:LIMITS|off]...

Start a VM in the background from the snapshot in DIR ('corral snapshot'): its RAM is mapped
copy-on-write from the snapshot, its disks are new overlays on the snapshot's frozen ones.
Its disks and NICs keep the rate limits they had when it was snapshotted ('corral vm limit' may
have changed them since it started); --limit DEVICE:LIMITS gives one other limits, e.g.
--limit vda:bw=50M,iops=1000 or --limit eth0:off. LIMITS: ${LIMIT_HELP}.
Prints the VM's name (default a random one).
`;

/** --limit DEVICE:LIMITS values, each read for its device's kind in the snapshot's spec. */
function restoreLimits(dir: string, texts: readonly string[]): Record<string, RateLimitSpec | null> {
  const devices = (readManifest(resolve(dir)).spec as { devices?: { kind?: string; name?: string }[] }).devices ?? [];
  const out: Record<string, RateLimitSpec | null> = {};
  for (const t of texts) {
    const at = t.indexOf(":");
    if (at <= 0) throw usageError(`--limit '${t}': give DEVICE:LIMITS, e.g. vda:bw=50M or eth0:off`);
    const name = t.slice(0, at);
    const kind = devices.find((d) => d.name === name)?.kind;
    // A name none of its disks and NICs has is refused by restoreVm, which lists those it has.
    out[name] = parseLimitText(t.slice(at + 1), kind === "net" ? "net" : "blk", `--limit ${t}`) ?? null;
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const args = verbArgs(
    "restore",
    argv,
    { name: { type: "string" }, limit: { type: "string", multiple: true } },
    { usage: USAGE, positionals: [1, 1], missing: "name the snapshot's directory: corral restore DIR [--name N]" },
  );
  if (!args) return 0;
  const { positionals, values } = args;
  const dir = positionals[0]!;
  const limits = values.limit !== undefined ? restoreLimits(dir, values.limit) : undefined;
  const client = await restoreVm(dir, { name: values.name, limits });
  process.stdout.write(`${client.name}\n`);
  return 0;
}
