/**
 * virtio-blk (virtio 1.2 section 5.2) on a raw image or a Corral overlay (src/devices/virtio/
 * src/disk/open.ts). The guest sees the disks in the order of the spec: /dev/vda, /dev/vdb, ...
 */
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";
import { RateLimitSpec } from "./limit.js";
import type { DiskSpec } from "../../disk/open.js";
import type { DiskFormat } from "../../disk/record.js";

/** A blk entry as src/disk/open.ts's DiskSpec. */
export function diskSpecOf(s: {
  path: string;
  readOnly?: boolean | undefined;
  format?: DiskFormat | undefined;
}): DiskSpec {
  return {
    path: s.path,
    ...(s.readOnly !== undefined ? { readOnly: s.readOnly } : {}),
    ...(s.format !== undefined ? { format: s.format } : {}),
  };
}

const defaultName = (i: number): string => `vd${String.fromCharCode(97 + (i % 26))}`;

export const blk = deviceKind({
  schema: z.strictObject({
    kind: z.literal("blk"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
    /** The image file on the host. */
    path: z.string().check(z.minLength(1, { error: "must be the path of the disk's image" })),
    readOnly: z.optional(z.boolean()),
    /** raw or overlay; without it, Corral's record of the image decides, else raw (src/disk/open.ts). */
    format: z.optional(z.enum(["raw", "overlay"], { error: "must be raw or overlay" })),
    /** Bandwidth and requests per second (kinds/limit.ts); `corral vm limit` changes them later. */
    limit: z.optional(RateLimitSpec),
  }),
  defaultName,
  async open(s, ctx) {
    const [{ VirtioBlk }, { openDisk }] = await Promise.all([import("../virtio/blk.js"), import("../../disk/open.js")]);
    const disk = openDisk(diskSpecOf(s));
    return { device: new VirtioBlk({ disk, name: s.name ?? defaultName(ctx.index), limit: s.limit }) };
  },
});
