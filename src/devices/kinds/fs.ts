/**
 * virtio-fs (virtio 1.2 section 5.11): a host directory the guest mounts by its tag with
 * `mount -t virtiofs TAG /mnt`, served by Corral's own FUSE server (src/devices/virtio/fuse/).
 */
import { isAbsolute } from "node:path";
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

const defaultName = (i: number): string => `fs${i}`;

/** §5.11.4: the tag fills at most 36 bytes of UTF-8 in the configuration space. */
export const MAX_TAG_BYTES = 36;

export const ShareTag = z.string().check(
  z.refine((t) => t.length > 0 && Buffer.byteLength(t, "utf8") <= MAX_TAG_BYTES && !t.includes("\0"), {
    error: (iss) => `'${String(iss.input)}' must be 1 to ${MAX_TAG_BYTES} bytes (UTF-8), without NUL`,
  }),
);

export const fs = deviceKind({
  schema: z.strictObject({
    kind: z.literal("fs"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
    /** The host directory to share (absolute). */
    path: z.string().check(z.refine((p) => isAbsolute(p), { error: "must be an absolute path" })),
    /** What the guest mounts it by; unique among the VM's shares. */
    tag: ShareTag,
    /** Refuse every write (EROFS). */
    readOnly: z.optional(z.boolean()),
  }),
  defaultName,
  async open(s, ctx) {
    const [{ VirtioFs }, { checkShareDir }] = await Promise.all([
      import("../virtio/fs.js"),
      import("../virtio/fuse/share.js"),
    ]);
    checkShareDir(s.path);
    return {
      device: new VirtioFs({
        root: s.path,
        tag: s.tag,
        readOnly: s.readOnly === true,
        name: s.name ?? defaultName(ctx.index),
      }),
    };
  },
});
