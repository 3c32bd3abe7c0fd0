/**
 * The flat options of `corral run` and Corral.start (src/api/index.ts), as the input of one VM
 * spec: disks and NICs in their command-line syntax, then the standard devices. Both front ends
 * go through here, so the same options give the same spec. A VM that names no NIC gets one with
 * user-mode networking (src/net/user/); `--net none` leaves it without.
 */
import { parseDiskSpec } from "../disk/open.js";
import { parseNetSpec } from "../net/attach.js";
import { parsePortForward } from "../net/user/config.js";
import { CorralError } from "../errors.js";
import { NetError } from "../net/errors.js";
import { parseVsockSpec } from "../net/vsock-attach.js";
import { takeLimitOptions } from "../devices/kinds/limit.js";
import { MAX_VFS } from "../devices/kinds/net.js";
import { parseShareSpec } from "../devices/virtio/fuse/share.js";
import {
  STANDARD_DEVICES,
  TRANSPORTS,
  VIRTIO_SLOTS,
  parseVmSpec,
  type DeviceSpec,
  type SpecErrorCode,
  type Transport,
  type VmSpec,
} from "./spec.js";

export interface VmOptions {
  name?: string | undefined;
  /** Bytes, or a size such as "512M" (src/size.ts). */
  memory?: number | string | undefined;
  cpus?: number | undefined;
  /** "ttyS0" or "hvc0"; anything else is refused with BAD_CONSOLE. */
  console?: string | undefined;
  /** The interrupt controllers: "plic" (default) or "aia". */
  irqchip?: string | undefined;
  kernel?: string | undefined;
  initrd?: string | undefined;
  append?: string | undefined;
  firmware?: string | undefined;
  /** As for --image: a root disk of the image cache by name. */
  image?: string | undefined;
  /** As for --disk: "FILE", "FILE,ro", with limits "FILE,bw=50M,iops=1000" (devices/kinds/limit.ts). */
  disks?: readonly string[] | undefined;
  /** As for --net: "user[,...]", "switch:NAME[,mac=MAC][,offload=off]", "tap[:NAME][,mac=MAC]" or "none". */
  nets?: readonly string[] | undefined;
  /** As for -p: "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]", forwarded to the first user-mode NIC. */
  publish?: readonly string[] | undefined;
  /** As for --vsock: "PATH[,cid=N]". */
  vsock?: string | undefined;
  /** As --share-memory: offer guest RAM to KSM (default: the host's, CORRAL_SHARE_MEMORY). */
  shareMemory?: boolean | undefined;
  /** As for --share: "HOST_DIR:TAG[,ro]". */
  shares?: readonly string[] | undefined;
  /** As for --transport: "mmio" or "pci", for every device that names none (`,transport=pci`). */
  transport?: string | undefined;
}

/**
 * Take `,transport=mmio|pci` out of a device argument (`--disk IMG,transport=pci`): the rest, and
 * the transport as the entry's field. Any other value is refused here, naming the flag.
 */
export function takeTransport(arg: string, flag: string): { rest: string; transport?: Transport } {
  const [head = "", ...opts] = arg.split(",");
  const kept = [head];
  let transport: Transport | undefined;
  for (const o of opts) {
    if (!o.startsWith("transport=")) {
      kept.push(o);
      continue;
    }
    const v = o.slice("transport=".length);
    if (!(TRANSPORTS as readonly string[]).includes(v))
      throw new CorralError<SpecErrorCode>(
        "BAD_TRANSPORT",
        `${flag} ${arg}: transport=${v} is not a transport: use transport=mmio or transport=pci`,
        { exitCode: 2 },
      );
    transport = v as Transport;
  }
  return { rest: kept.join(","), ...(transport ? { transport } : {}) };
}

/** A --disk argument as a device entry. */
export function diskDevice(text: string): DeviceSpec {
  const t = takeTransport(text, "--disk");
  const { rest, limit } = takeLimitOptions(t.rest, "blk", "--disk");
  return {
    kind: "blk",
    ...parseDiskSpec(rest),
    ...(limit ? { limit } : {}),
    ...(t.transport ? { transport: t.transport } : {}),
  };
}

type NetDevice = Extract<DeviceSpec, { kind: "net" }>;

/** A --net argument as a device entry (undefined for "none"). */
export function netDevice(text: string): NetDevice | undefined {
  const t = takeTransport(text, "--net");
  const { rest, limit } = takeLimitOptions(t.rest, "net", "--net");
  const v = takeVfs(rest, text);
  const n = parseNetSpec(v.rest);
  if (n.kind === "none") return undefined;
  const backend: NetDevice["backend"] =
    n.kind === "tap"
      ? { type: "tap" as const, ...(n.name !== undefined ? { ifname: n.name } : {}) }
      : n.kind === "user"
        ? { type: "user" as const, ...(n.hostLoopback ? { hostLoopback: true } : {}), ...(n.dns ? { dns: n.dns } : {}) }
        : { type: "switch" as const, switch: n.name, ...(n.offload === false ? { offload: false } : {}) };
  return {
    kind: "net",
    backend,
    ...(n.mac !== undefined ? { mac: n.mac } : {}),
    ...(limit ? { limit } : {}),
    ...(t.transport ? { transport: t.transport } : {}),
    ...(v.vfs !== undefined ? { vfs: v.vfs } : {}),
  };
}

/** Take `,vfs=N` (SR-IOV virtual functions) out of a --net argument. */
function takeVfs(arg: string, whole: string): { rest: string; vfs?: number } {
  const [head = "", ...opts] = arg.split(",");
  const kept = [head];
  let vfs: number | undefined;
  for (const o of opts) {
    if (!o.startsWith("vfs=")) {
      kept.push(o);
      continue;
    }
    const n = /^\d{1,3}$/.test(o.slice(4)) ? Number(o.slice(4)) : 0;
    if (n < 1 || n > MAX_VFS)
      throw new NetError("BAD_NET", `--net ${whole}: vfs= takes a number of VFs from 1 to ${MAX_VFS}`, { exitCode: 2 });
    vfs = n;
  }
  return { rest: kept.join(","), ...(vfs !== undefined ? { vfs } : {}) };
}

/**
 * The NICs of --net and -p: as given, or the default user-mode NIC when none is named; `none`
 * alone for no NIC. -p goes to the first user-mode NIC.
 */
export function netDevices(nets: readonly string[] = [], publish: readonly string[] = []): NetDevice[] {
  const none = nets.filter((n) => n === "none" || n.startsWith("none,")).length;
  if (none > 0 && nets.length > none)
    throw new NetError("BAD_NET", "--net none means no NIC: drop it or the other --net options", { exitCode: 2 });
  const devices = nets.length === 0 ? [netDevice("user")!] : nets.flatMap((n) => netDevice(n) ?? []);
  const forwards = publish.map(parsePortForward);
  if (forwards.length === 0) return devices;
  const user = devices.find((d) => d.backend.type === "user");
  if (!user || user.backend.type !== "user")
    throw new NetError(
      "BAD_PORT_FORWARD",
      "-p forwards host ports to a user-mode NIC: drop --net none or add --net user",
      {
        exitCode: 2,
      },
    );
  const seen = new Set<string>();
  for (const f of forwards) {
    const k = `${f.proto}:${f.hostIp}:${f.hostPort}`;
    if (seen.has(k))
      throw new NetError("BAD_PORT_FORWARD", `-p: host port ${f.hostIp}:${f.hostPort}/${f.proto} is given twice`, {
        exitCode: 2,
      });
    seen.add(k);
  }
  user.backend.forwards = forwards;
  return devices;
}

/** A --vsock argument as a device entry. */
export function vsockDevice(text: string): DeviceSpec {
  const t = takeTransport(text, "--vsock");
  const v = parseVsockSpec(t.rest);
  return { kind: "vsock", path: v.path, cid: v.guestCid, ...(t.transport ? { transport: t.transport } : {}) };
}

/** A --share argument as a device entry. */
export function shareDevice(text: string): DeviceSpec {
  const t = takeTransport(text, "--share");
  const s = parseShareSpec(t.rest);
  return {
    kind: "fs",
    path: s.path,
    tag: s.tag,
    ...(s.readOnly ? { readOnly: true } : {}),
    ...(t.transport ? { transport: t.transport } : {}),
  };
}

/** The spec `o` describes: its disks, its NICs, vsock, shares, then the standard devices; validated. */
export function vmSpec(o: VmOptions): VmSpec {
  const boot = { kernel: o.kernel, initrd: o.initrd, cmdline: o.append, firmware: o.firmware };
  return parseVmSpec({
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.memory !== undefined ? { memory: o.memory } : {}),
    ...(o.cpus !== undefined ? { harts: o.cpus } : {}),
    ...(o.console !== undefined ? { console: o.console } : {}),
    ...(o.irqchip !== undefined ? { irqchip: o.irqchip } : {}),
    ...(o.shareMemory !== undefined ? { shareMemory: o.shareMemory } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.transport !== undefined ? { transport: o.transport } : {}),
    boot: Object.fromEntries(Object.entries(boot).filter(([, v]) => v !== undefined)),
    devices: devices(o),
  });
}

function devices(o: VmOptions): DeviceSpec[] {
  const nics = netDevices(o.nets, o.publish);
  const list = [
    ...(o.disks ?? []).map(diskDevice),
    ...nics,
    ...(o.vsock !== undefined ? [vsockDevice(o.vsock)] : []),
    ...(o.shares ?? []).map(shareDevice),
    ...STANDARD_DEVICES,
  ];
  if (list.length > VIRTIO_SLOTS && (o.nets ?? []).length === 0 && o.transport !== "pci")
    throw new CorralError<SpecErrorCode>(
      "TOO_MANY_DEVICES",
      `${list.length} devices with the default user-mode NIC, but at most ${VIRTIO_SLOTS} fit on the board: add --net none or drop a disk`,
      { exitCode: 2 },
    );
  return list;
}
