/**
 * The VM process's /vfs route (control/protocol.ts): every SR-IOV virtual function of the VM's
 * NICs with what the host set on it, and a change to one of them, as `ip link set DEV vf N mac
 * .. vlan .. rate .. spoofchk .. trust .. state ..` on real hardware (issue 18 item 4). The rate
 * is the VF's own rate limiter (devices/virtio/rate-limit.ts), each direction.
 */
import * as z from "zod/mini";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { VirtioNet } from "../devices/virtio/net.js";
import { CorralError } from "../errors.js";
import type { VfInfo } from "./control/protocol.js";

export type VfRouteErrorCode = "BAD_VF" | "NO_SUCH_VF";

/** The VFs of every NIC among `devices`: PF, number, and the VF's NIC. */
function vfsOf(devices: readonly VirtioDevice[]): { pf: VirtioNet; k: number; nic: VirtioNet }[] {
  return devices.flatMap((d) =>
    d instanceof VirtioNet ? (d.virtualFunctions ?? []).map((nic, k) => ({ pf: d, k, nic })) : [],
  );
}

function info(pf: VirtioNet, k: number, nic: VirtioNet): VfInfo {
  const s = nic.vf!.settings;
  return {
    device: nic.name,
    pf: pf.name,
    vf: k,
    mac: s.mac,
    vlan: s.vlan,
    rate: nic.txLimiter.limit.bandwidth,
    spoofchk: s.spoofchk,
    trust: s.trust,
    state: s.state,
    txFrames: nic.stats.txFrames,
    rxFrames: nic.stats.rxFrames,
    dropped: nic.vf!.dropped,
  };
}

export function vfInfo(devices: readonly VirtioDevice[]): VfInfo[] {
  return vfsOf(devices).map(({ pf, k, nic }) => info(pf, k, nic));
}

const Mac = z.string().check(
  z.regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { error: "must be written as 52:54:00:12:34:56" }),
  z.refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, { error: "must be a unicast MAC: its first byte even" }),
);

/** PUT /vfs: untrusted JSON, checked whole before anything changes. */
const Body = z.strictObject({
  vf: z.string(),
  mac: z.optional(Mac),
  // IEEE 802.1Q §9.6: VLAN IDs 1..4094 (0 here: none; 4095 reserved).
  vlan: z.optional(z.int().check(z.minimum(0), z.maximum(4094))),
  rate: z.optional(z.nullable(z.int().check(z.minimum(1)))),
  spoofchk: z.optional(z.boolean()),
  trust: z.optional(z.boolean()),
  state: z.optional(z.enum(["auto", "enable", "disable"])),
});

export function setVf(devices: readonly VirtioDevice[], body: unknown): VfInfo {
  const parsed = Body.safeParse(body ?? {});
  if (!parsed.success)
    throw new CorralError<VfRouteErrorCode>(
      "BAD_VF",
      parsed.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; "),
    );
  const b = parsed.data;
  const all = vfsOf(devices);
  const first = all[0]?.pf;
  const hit = /^\d+$/.test(b.vf)
    ? all.find((x) => x.pf === first && x.k === Number(b.vf))
    : all.find((x) => x.nic.name === b.vf);
  if (!hit)
    throw new CorralError<VfRouteErrorCode>(
      "NO_SUCH_VF",
      `no VF '${b.vf}' in this VM: it has ${all.length > 0 ? all.map((x) => `${x.nic.name} (${x.pf.name} VF ${x.k})`).join(", ") : "none (start a NIC with --net switch:NAME,transport=pci,vfs=N)"}`,
    );
  hit.nic.setVf({
    ...(b.mac !== undefined ? { mac: b.mac } : {}),
    ...(b.vlan !== undefined ? { vlan: b.vlan } : {}),
    ...(b.spoofchk !== undefined ? { spoofchk: b.spoofchk } : {}),
    ...(b.trust !== undefined ? { trust: b.trust } : {}),
    ...(b.state !== undefined ? { state: b.state } : {}),
  });
  if (b.rate !== undefined) hit.nic.setLimit(b.rate === null ? undefined : { bandwidth: b.rate });
  return info(hit.pf, hit.k, hit.nic);
}
