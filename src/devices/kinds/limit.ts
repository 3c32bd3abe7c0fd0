/**
 * The rate limits of a disk or a NIC in a VM spec (`limit` of a blk or net entry), and their
 * command-line form: `bw=SIZE` (bytes per second, in the one size syntax: bw=50M is 50 MiB/s),
 * `iops=N` (a disk's requests per second) or `pps=N` (a NIC's frames per second), `burst=SIZE`.
 * Enforced by src/devices/virtio/rate-limit.ts; changed on a running VM by `corral vm limit`.
 */
import * as z from "zod/mini";
import { CorralError } from "../../errors.js";
import { checkSize, SIZE_HELP } from "../../size.js";

const PerSecond = z
  .number()
  .check(z.int({ error: "must be a whole number" }), z.positive({ error: "must be more than 0" }));

export const RateLimitSpec = z.strictObject({
  /** Bytes per second. */
  bandwidth: z.optional(PerSecond),
  /** Requests (disk) or frames (NIC) per second. */
  ops: z.optional(PerSecond),
  /** Bytes that may go at once after a quiet spell (default: a tenth of a second of bandwidth). */
  burst: z.optional(PerSecond),
  /** Operations that may go at once (default: a tenth of a second of ops, at least one). */
  opsBurst: z.optional(PerSecond),
});
export type RateLimitSpec = z.output<typeof RateLimitSpec>;

export type LimitErrorCode = "BAD_LIMIT";

/** The name of the operations option for a device kind. */
const OPS_KEY = { blk: "iops", net: "pps" } as const;

/** The help text of the limit options, for `corral run --help` and `corral vm limit --help`. */
export const LIMIT_HELP = `bw=SIZE (bytes per second; ${SIZE_HELP}), iops=N (disk requests per second) or pps=N (NIC frames per second), burst=SIZE`;

/**
 * Take the limit options out of a --disk or --net argument ("img,bw=50M,ro" gives "img,ro" and
 * { bandwidth: 52428800 }). Anything else is left for the device's own parser.
 */
export function takeLimitOptions(
  arg: string,
  kind: keyof typeof OPS_KEY,
  flag: string,
): { rest: string; limit: RateLimitSpec | undefined } {
  const [head = "", ...opts] = arg.split(",");
  const kept = [head];
  const limit: RateLimitSpec = {};
  for (const o of opts) {
    const m = /^(bw|iops|pps|burst)=(.*)$/.exec(o);
    if (!m) {
      kept.push(o);
      continue;
    }
    applyLimitOption(limit, m[1]!, m[2]!, kind, `${flag} ${arg}`);
  }
  return { rest: kept.join(","), limit: Object.keys(limit).length > 0 ? limit : undefined };
}

/**
 * Limits written as "bw=10M,iops=100" (`corral vm limit`), or "off" for none. `kind` decides
 * whether the operations are iops or pps.
 */
export function parseLimitText(text: string, kind: keyof typeof OPS_KEY, what: string): RateLimitSpec | undefined {
  if (text === "off") return undefined;
  const limit: RateLimitSpec = {};
  for (const o of text.split(",")) {
    const m = /^(bw|iops|pps|burst)=(.*)$/.exec(o);
    if (!m) throw badLimit(`${what}: '${o}' is not a limit: give ${LIMIT_HELP}, or off`);
    applyLimitOption(limit, m[1]!, m[2]!, kind, what);
  }
  return limit;
}

function applyLimitOption(
  limit: RateLimitSpec,
  key: string,
  value: string,
  kind: keyof typeof OPS_KEY,
  what: string,
): void {
  if (key === "bw" || key === "burst") {
    const r = checkSize(value);
    if ("problem" in r) throw badLimit(`${what}: ${key} '${value}' ${r.problem} (a size per second)`);
    if (key === "bw") limit.bandwidth = r.bytes;
    else limit.burst = r.bytes;
    return;
  }
  if (key !== OPS_KEY[kind])
    throw badLimit(`${what}: ${key} is not a limit of a ${kind === "blk" ? "disk" : "NIC"}: use ${OPS_KEY[kind]}=N`);
  if (!/^\d+$/.test(value) || Number(value) === 0 || !Number.isSafeInteger(Number(value)))
    throw badLimit(`${what}: ${key} '${value}' must be a whole number of operations per second, more than 0`);
  limit.ops = Number(value);
}

function badLimit(message: string): CorralError<LimitErrorCode> {
  return new CorralError<LimitErrorCode>("BAD_LIMIT", message, { exitCode: 2 });
}
