/**
 * virtio-console (virtio 1.2 section 5.3): port 0 is hvc0 (the guest's console with
 * `console: "hvc0"`), and each named port after it a channel; the guest agent serves
 * 'corral exec' on the port called AGENT_PORT_NAME (src/vm/protocol.ts).
 */
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

const defaultName = (i: number): string => `console${i}`;

export const consoleKind = deviceKind({
  schema: z.strictObject({
    kind: z.literal("console"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
    /** Names of the ports after port 0 (the guest finds them under /sys/class/virtio-ports). */
    ports: z._default(
      z.array(
        z
          .string()
          .check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: "must be 1 to 64 letters, digits, '_', '.' or '-'" })),
      ),
      [],
    ),
  }),
  defaultName,
  async open(s, ctx) {
    const { VirtioConsole } = await import("../virtio/console.js");
    return {
      device: new VirtioConsole({ name: s.name ?? defaultName(ctx.index), ports: s.ports.map((name) => ({ name })) }),
    };
  },
});
