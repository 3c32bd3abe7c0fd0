/**
 * virtio-vsock (virtio 1.2 section 5.10): stream sockets between guest and host programs on the
 * host Unix socket `path`, in Firecracker's convention (src/net/vsock-unix.ts).
 */
import { isAbsolute } from "node:path";
import { z } from "zod";
import { deviceKind } from "./kind.js";
import { DeviceName } from "./names.js";

const defaultName = (i: number): string => `vsock${i}`;

export const vsock = deviceKind({
  schema: z.strictObject({
    kind: z.literal("vsock"),
    name: DeviceName.optional(),
    /** The VM's Unix socket; guest connections to host port P reach `${path}_${P}`. */
    path: z.string().refine((p) => isAbsolute(p), { error: "must be an absolute path" }),
    /** The guest's context id (default 3): 0, 1, 2 (the host) and 0xffffffff are reserved. */
    cid: z.number().int().min(3).max(0xfffffffe).optional(),
  }),
  defaultName,
  async open(s, ctx) {
    const { openVsock, DEFAULT_GUEST_CID } = await import("../../net/vsock-attach.js");
    return {
      device: await openVsock({ path: s.path, guestCid: s.cid ?? DEFAULT_GUEST_CID }, s.name ?? defaultName(ctx.index)),
    };
  },
});
