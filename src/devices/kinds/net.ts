/**
 * virtio-net (virtio 1.2 section 5.1) with user-mode networking (src/net/user/), on a host-local
 * switch with DHCP, or on a TAP interface (src/net/attach.ts). The guest sees the NICs in the
 * order of the spec: eth0, eth1, ...
 */
import * as z from "zod/mini";
import { deviceKind } from "./kind.js";
import { DeviceName, DeviceTransport } from "./names.js";

/** ip= (Documentation/admin-guide/nfs/nfsroot.rst) for user-mode networking: 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3 (net/user/config.ts). */
export const USER_IP_PARAM = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:10.0.2.3";
import { RateLimitSpec } from "./limit.js";
import { NetError } from "../../net/errors.js";

/** Switch port numbers of VFs start here, apart from the NICs' own (their index). */
const VF_PORT_BASE = 1000;

const Mac = z.string().check(
  z.regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { error: "must be written as 52:54:00:12:34:56" }),
  z.refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, { error: "must be a unicast MAC: its first byte even" }),
);

const Port = z.int({ error: "must be a port from 1 to 65535" }).check(z.minimum(1), z.maximum(65535));
const Ipv4 = z
  .string()
  .check(
    z.regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, { error: "must be an IPv4 address" }),
  );

const defaultName = (i: number): string => `eth${i}`;
/** VFs per NIC: each is a switch port of the VM process, and all must fit on PCI bus 0. */
export const MAX_VFS = 32;

export const net = deviceKind({
  schema: z.strictObject({
    kind: z.literal("net"),
    name: z.optional(DeviceName),
    transport: z.optional(DeviceTransport),
    /** The host side: a switch by name (shared by this host's VMs, DHCP served), or a TAP interface (root). */
    backend: z.discriminatedUnion(
      "type",
      [
        z.strictObject({
          type: z.literal("user"),
          /** The gateway address (10.0.2.2) reaches the host's 127.0.0.1 (default false: no host loopback). */
          hostLoopback: z.optional(z.boolean()),
          /** The DNS server behind 10.0.2.3, "IP" or "IP:PORT" (default: the host's first nameserver). */
          dns: z.optional(
            z.string().check(z.regex(/^\d+\.\d+\.\d+\.\d+(:\d{1,5})?$/, { error: "must be IP or IP:PORT" })),
          ),
          /** Host ports forwarded to the guest (`-p`). */
          forwards: z.optional(
            z.array(
              z.strictObject({
                proto: z.enum(["tcp", "udp"]),
                hostIp: z._default(Ipv4, "127.0.0.1"),
                hostPort: Port,
                guestPort: Port,
              }),
            ),
          ),
        }),
        z.strictObject({
          type: z.literal("switch"),
          switch: z.string().check(
            z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, {
              error: "must be 1 to 32 letters, digits, '_', '-' or '.'",
            }),
          ),
          /** TCP checksum and segmentation offloads (default on). */
          offload: z.optional(z.boolean()),
        }),
        z.strictObject({
          type: z.literal("tap"),
          ifname: z.optional(
            z
              .string()
              .check(
                z.regex(/^[A-Za-z0-9_.%-]{1,15}$/, { error: "must be 1 to 15 letters, digits, '_', '.', '-' or '%'" }),
              ),
          ),
        }),
      ],
      {
        error:
          'must be a user, switch or tap backend: { type: "user" }, { type: "switch", switch: NAME } or { type: "tap" }',
      },
    ),
    /** Default: from the VM process's id and the NIC's index, unique among running VMs. */
    mac: z.optional(Mac),
    /** Bandwidth and frames per second, each direction on its own (kinds/limit.ts). */
    limit: z.optional(RateLimitSpec),
    /**
     * SR-IOV virtual functions the guest may enable (TotalVFs), each a NIC with its own MAC and
     * its own port on the same switch (transport pci, switch backend only).
     */
    vfs: z.optional(
      z.int({ error: `must be a number of VFs from 1 to ${MAX_VFS}` }).check(z.minimum(1), z.maximum(MAX_VFS)),
    ),
  }),
  defaultName,
  async open(s, ctx) {
    const { openNic, defaultMac, vfMac } = await import("../../net/attach.js");
    const b = s.backend;
    const name = s.name ?? defaultName(ctx.index);
    const mac = (s.mac ?? defaultMac(ctx.index)).toLowerCase();
    const vfs: Awaited<ReturnType<typeof openNic>>[] = [];
    if (s.vfs !== undefined) {
      if (b.type !== "switch")
        throw new NetError("BAD_NET", `${name}: vfs= needs a switch backend (--net switch:NAME,vfs=N)`, {
          exitCode: 2,
        });
      try {
        for (let k = 0; k < s.vfs; k++)
          vfs.push(
            await openNic(
              { kind: "switch", name: b.switch },
              // Each VF's switch port is its own, named apart from the NICs' (index 1000 + ...).
              {
                index: VF_PORT_BASE + ctx.index * MAX_VFS + k,
                home: ctx.home,
                name: `${name}vf${k}`,
                mac: vfMac(mac, k),
                vf: true,
                offloads: b.offload !== false,
              },
            ),
          );
      } catch (e) {
        for (const vf of vfs) vf.close();
        throw e;
      }
    }
    const device = await openNic(
      b.type === "tap"
        ? { kind: "tap", ...(b.ifname ? { name: b.ifname } : {}) }
        : b.type === "user"
          ? {
              kind: "user",
              hostLoopback: b.hostLoopback === true,
              ...(b.dns !== undefined ? { dns: b.dns } : {}),
              forwards: b.forwards ?? [],
            }
          : { kind: "switch", name: b.switch },
      {
        index: ctx.index,
        home: ctx.home,
        name,
        mac,
        offloads: b.type === "user" || (b.type === "switch" && b.offload !== false),
        ...(vfs.length > 0 ? { virtualFunctions: vfs } : {}),
      },
    ).catch((e: unknown) => {
      for (const vf of vfs) vf.close();
      throw e;
    });
    if (s.limit) device.setLimit(s.limit);
    // The guest's /init configures eth0 (init-script.ts): by DHCP on a switch; on user-mode
    // networking with its fixed addresses, as its DHCP server would (udhcpc and its script cost
    // the guest about 1.5 s of boot; the server still answers a guest's own DHCP client).
    if (ctx.index !== 0 || b.type === "tap") return { device };
    return { device, cmdline: [b.type === "user" ? USER_IP_PARAM : "ip=dhcp"] };
  },
});
