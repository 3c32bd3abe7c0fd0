/**
 * virtio-net (virtio 1.2 section 5.1) on a host-local switch with DHCP or a TAP interface
 * (src/net/attach.ts). The guest sees the NICs in the order of the spec: eth0, eth1, ...
 */
import { z } from "zod";
import { deviceKind } from "./kind.js";
import { DeviceName } from "./names.js";
import { RateLimitSpec } from "./limit.js";

const Mac = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { error: "must be written as 52:54:00:12:34:56" })
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, { error: "must be a unicast MAC: its first byte even" });

const defaultName = (i: number): string => `eth${i}`;

export const net = deviceKind({
  schema: z.strictObject({
    kind: z.literal("net"),
    name: DeviceName.optional(),
    /** The host side: a switch by name (shared by this host's VMs, DHCP served), or a TAP interface (root). */
    backend: z.discriminatedUnion(
      "type",
      [
        z.strictObject({
          type: z.literal("switch"),
          switch: z
            .string()
            .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, { error: "must be 1 to 32 letters, digits, '_', '-' or '.'" }),
          /** TCP checksum and segmentation offloads (default on). */
          offload: z.boolean().optional(),
        }),
        z.strictObject({
          type: z.literal("tap"),
          ifname: z
            .string()
            .regex(/^[A-Za-z0-9_.%-]{1,15}$/, { error: "must be 1 to 15 letters, digits, '_', '.', '-' or '%'" })
            .optional(),
        }),
      ],
      { error: 'must be a switch or a tap backend: { type: "switch", switch: NAME } or { type: "tap" }' },
    ),
    /** Default: from the VM process's id and the NIC's index, unique among running VMs. */
    mac: Mac.optional(),
    /** Bandwidth and frames per second, each direction on its own (kinds/limit.ts). */
    limit: RateLimitSpec.optional(),
  }),
  defaultName,
  async open(s, ctx) {
    const { openNic } = await import("../../net/attach.js");
    const b = s.backend;
    const device = await openNic(
      b.type === "tap" ? { kind: "tap", ...(b.ifname ? { name: b.ifname } : {}) } : { kind: "switch", name: b.switch },
      {
        index: ctx.index,
        home: ctx.home,
        name: s.name ?? defaultName(ctx.index),
        ...(s.mac ? { mac: s.mac.toLowerCase() } : {}),
        offloads: b.type === "switch" && b.offload !== false,
      },
    );
    if (s.limit) device.setLimit(s.limit);
    // The guest's /init configures eth0 by DHCP when the first NIC is on a switch (init-script.ts).
    return { device, ...(ctx.index === 0 && b.type === "switch" ? { cmdline: ["ip=dhcp"] } : {}) };
  },
});
