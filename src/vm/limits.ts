/**
 * The VM process's /limits route (control/protocol.ts): every disk's and NIC's rate limits, and a
 * change to one of them on the running VM (issue 18 item 5).
 */
import { VirtioBlk } from "../devices/virtio/blk.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { VirtioNet } from "../devices/virtio/net.js";
import * as z from "zod/mini";
import { RateLimitSpec } from "../devices/kinds/limit.js";
import { CorralError } from "../errors.js";
import type { LimitBody, LimitInfo } from "./control/protocol.js";

export type LimitRouteErrorCode = "BAD_LIMIT" | "NO_SUCH_DEVICE";

/** The limits and counters of every rate-limited kind of device among `devices`. */
export function limitInfo(devices: readonly VirtioDevice[]): LimitInfo[] {
  return devices.flatMap((d): LimitInfo[] => {
    if (d instanceof VirtioBlk) {
      const s = d.limiter.stats;
      return [
        { device: d.name, kind: "blk", limit: d.limiter.limit, bytes: s.bytes, ops: s.ops, throttled: s.throttled },
      ];
    }
    if (d instanceof VirtioNet) {
      const tx = d.txLimiter.stats;
      const rx = d.rxLimiter.stats;
      return [
        {
          device: d.name,
          kind: "net",
          limit: d.txLimiter.limit,
          bytes: tx.bytes + rx.bytes,
          ops: tx.ops + rx.ops,
          throttled: tx.throttled + rx.throttled,
        },
      ];
    }
    return [];
  });
}

/** Apply a PUT /limits body (untrusted JSON) to the device it names; returns that device's info. */
export function setLimit(devices: readonly VirtioDevice[], body: unknown): LimitInfo {
  const b = (body ?? {}) as Partial<Record<keyof LimitBody, unknown>>;
  if (typeof b.device !== "string")
    throw new CorralError<LimitRouteErrorCode>("BAD_LIMIT", 'body must be {"device": NAME, "limit": {...} | null}');
  const d = devices.find((x) => x.name === b.device && (x instanceof VirtioBlk || x instanceof VirtioNet));
  if (!d) {
    const names = limitInfo(devices).map((i) => i.device);
    throw new CorralError<LimitRouteErrorCode>(
      "NO_SUCH_DEVICE",
      `no disk or NIC named '${b.device}' in this VM: it has ${names.length > 0 ? names.join(", ") : "none"}`,
    );
  }
  const parsed = z.nullable(RateLimitSpec).safeParse(b.limit ?? null);
  if (!parsed.success)
    throw new CorralError<LimitRouteErrorCode>(
      "BAD_LIMIT",
      `limit: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`,
    );
  const limit = parsed.data ?? undefined;
  if (d instanceof VirtioBlk || d instanceof VirtioNet) d.setLimit(limit);
  return limitInfo([d])[0]!;
}
