/**
 * `corral vm limit NAME [DEVICE LIMITS]`: show or change the rate limits of a running VM's disks
 * and NICs (issue 18 item 5), in force at once.
 */
import { parseVerbArgs, usageError } from "../args.js";
import { VmClient } from "../vm/client.js";
import { LIMIT_HELP, parseLimitText } from "../devices/kinds/limit.js";
import type { LimitInfo } from "../vm/control/protocol.js";

export const VM_LIMIT_USAGE = `Usage: corral vm limit NAME [DEVICE LIMITS|off]

Show the rate limits of running VM NAME's disks (vda, vdb, ...) and NICs (eth0, ...), with what
went through since boot; or set DEVICE's, e.g. 'corral vm limit web vda bw=50M,iops=1000' or
'corral vm limit web eth0 bw=10M'. LIMITS: ${LIMIT_HELP}. 'off' removes them. A NIC's limits hold
for each direction on its own. The same limits can be given at start: --disk IMG,bw=50M.
`;

const rate = (n: number | undefined, unit: string): string =>
  n === undefined ? "-" : n >= 2 ** 20 && unit === "B/s" ? `${+(n / 2 ** 20).toFixed(2)}M/s` : `${n}${unit}`;

function line(i: LimitInfo): string {
  const ops = i.kind === "blk" ? "iops" : "pps";
  const l = i.limit;
  const limits =
    l.bandwidth === undefined && l.ops === undefined
      ? "unlimited"
      : `bw ${rate(l.bandwidth, "B/s")} ${ops} ${rate(l.ops, "/s")}${l.burst !== undefined ? ` burst ${l.burst}` : ""}`;
  return `${i.device}\t${limits}\t${i.bytes} bytes, ${i.ops} ${i.kind === "blk" ? "requests" : "frames"}, waited ${i.throttled} times\n`;
}

export async function limitMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs("vm limit", argv, { help: { type: "boolean", short: "h" } });
  if (values.help === true) {
    process.stdout.write(VM_LIMIT_USAGE);
    return 0;
  }
  const [name, device, text, extra] = positionals;
  if (name === undefined || (device !== undefined && text === undefined) || extra !== undefined)
    throw usageError("usage: corral vm limit NAME [DEVICE LIMITS|off]; see 'corral vm limit --help'");
  const client = new VmClient(name);
  if (device === undefined) {
    for (const i of await client.limits()) process.stdout.write(line(i));
    return 0;
  }
  // The kind decides iops or pps: ask the VM what DEVICE is before reading the limits.
  const info = (await client.limits()).find((i) => i.device === device);
  if (!info) {
    // Let the VM say which devices it has (NO_SUCH_DEVICE).
    await client.setLimit(device, undefined);
    return 1;
  }
  const limit = parseLimitText(text!, info.kind, `corral vm limit ${name} ${device}`);
  process.stdout.write(line(await client.setLimit(device, limit)));
  return 0;
}
