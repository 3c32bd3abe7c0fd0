/** virtio-rng: host entropy for the guest's /dev/hwrng (virtio 1.2 section 5.4). */
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

const defaultName = (i: number): string => `rng${i}`;

export const rng = deviceKind({
  schema: z.strictObject({
    kind: z.literal("rng"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
  }),
  defaultName,
  async open(s, ctx) {
    const { VirtioRng } = await import("../virtio/rng.js");
    return { device: new VirtioRng({ name: s.name ?? defaultName(ctx.index) }) };
  },
});
