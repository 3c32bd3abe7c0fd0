/**
 * virtio-balloon whose released pages go back to the host (src/vm/madvise.ts; virtio 1.2
 * section 5.5): `corral vm memory` and the API's setMemory drive it.
 */
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

const defaultName = (i: number): string => `balloon${i}`;

export const balloon = deviceKind({
  schema: z.strictObject({
    kind: z.literal("balloon"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
  }),
  defaultName,
  async open(s, ctx) {
    const { ReleasingBalloon } = await import("../../vm/madvise.js");
    return { device: new ReleasingBalloon(s.name ?? defaultName(ctx.index)) };
  },
});
