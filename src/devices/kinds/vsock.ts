/**
 * virtio-vsock (virtio 1.2 section 5.10): stream sockets between guest and host programs on the
 * host Unix socket `path`, in Firecracker's convention (src/net/vsock-unix.ts).
 */
import { isAbsolute } from "node:path";
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

const defaultName = (i: number): string => `vsock${i}`;

export const vsock = deviceKind({
  schema: z.strictObject({
    kind: z.literal("vsock"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
    /** The VM's Unix socket; guest connections to host port P reach `${path}_${P}`. */
    path: z.string().check(z.refine((p) => isAbsolute(p), { error: "must be an absolute path" })),
    /** The guest's context id (default 3): 0, 1, 2 (the host) and 0xffffffff are reserved. */
    cid: z.optional(z.number().check(z.int(), z.minimum(3), z.maximum(0xfffffffe))),
  }),
  defaultName,
  async open(s, ctx) {
    const { openVsock, DEFAULT_GUEST_CID } = await import("../../net/vsock-attach.js");
    return {
      device: await openVsock({ path: s.path, guestCid: s.cid ?? DEFAULT_GUEST_CID }, s.name ?? defaultName(ctx.index)),
    };
  },
});
