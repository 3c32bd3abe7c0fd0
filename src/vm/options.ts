/**
 * The flat options of `corral run` and Corral.start (src/api/index.ts), as the input of one VM
 * spec: disks and NICs in their command-line syntax, then the standard devices. Both front ends
 * go through here, so the same options give the same spec.
 */
import { parseDiskSpec } from "../disk/open.js";
import { parseNetSpec } from "../net/attach.js";
import { parseVsockSpec } from "../net/vsock-attach.js";
import { takeLimitOptions } from "../devices/kinds/limit.js";
import { parseShareSpec } from "../devices/virtio/fuse/share.js";
import { STANDARD_DEVICES, parseVmSpec, type DeviceSpec, type VmSpec } from "./spec.js";

export interface VmOptions {
  name?: string | undefined;
  /** Bytes, or a size such as "512M" (src/size.ts). */
  memory?: number | string | undefined;
  cpus?: number | undefined;
  /** "ttyS0" or "hvc0"; anything else is refused with BAD_CONSOLE. */
  console?: string | undefined;
  kernel?: string | undefined;
  initrd?: string | undefined;
  append?: string | undefined;
  firmware?: string | undefined;
  /** As for --image: a root disk of the image cache by name. */
  image?: string | undefined;
  /** As for --disk: "FILE", "FILE,ro", with limits "FILE,bw=50M,iops=1000" (devices/kinds/limit.ts). */
  disks?: readonly string[] | undefined;
  /** As for --net: "switch:NAME[,mac=MAC][,offload=off]" or "tap[:NAME][,mac=MAC]". */
  nets?: readonly string[] | undefined;
  /** As for --vsock: "PATH[,cid=N]". */
  vsock?: string | undefined;
  /** As for --share: "HOST_DIR:TAG[,ro]". */
  shares?: readonly string[] | undefined;
}

/** A --disk argument as a device entry. */
export function diskDevice(text: string): DeviceSpec {
  const { rest, limit } = takeLimitOptions(text, "blk", "--disk");
  return { kind: "blk", ...parseDiskSpec(rest), ...(limit ? { limit } : {}) };
}

/** A --net argument as a device entry. */
export function netDevice(text: string): DeviceSpec {
  const { rest, limit } = takeLimitOptions(text, "net", "--net");
  const n = parseNetSpec(rest);
  const backend =
    n.kind === "tap"
      ? { type: "tap" as const, ...(n.name !== undefined ? { ifname: n.name } : {}) }
      : { type: "switch" as const, switch: n.name, ...(n.offload === false ? { offload: false } : {}) };
  return { kind: "net", backend, ...(n.mac !== undefined ? { mac: n.mac } : {}), ...(limit ? { limit } : {}) };
}

/** A --vsock argument as a device entry. */
export function vsockDevice(text: string): DeviceSpec {
  const v = parseVsockSpec(text);
  return { kind: "vsock", path: v.path, cid: v.guestCid };
}

/** A --share argument as a device entry. */
export function shareDevice(text: string): DeviceSpec {
  const s = parseShareSpec(text);
  return { kind: "fs", path: s.path, tag: s.tag, ...(s.readOnly ? { readOnly: true } : {}) };
}

/** The spec `o` describes: its disks, its NICs, vsock, shares, then the standard devices; validated. */
export function vmSpec(o: VmOptions): VmSpec {
  const boot = { kernel: o.kernel, initrd: o.initrd, cmdline: o.append, firmware: o.firmware };
  return parseVmSpec({
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.memory !== undefined ? { memory: o.memory } : {}),
    ...(o.cpus !== undefined ? { harts: o.cpus } : {}),
    ...(o.console !== undefined ? { console: o.console } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    boot: Object.fromEntries(Object.entries(boot).filter(([, v]) => v !== undefined)),
    devices: [
      ...(o.disks ?? []).map(diskDevice),
      ...(o.nets ?? []).map(netDevice),
      ...(o.vsock !== undefined ? [vsockDevice(o.vsock)] : []),
      ...(o.shares ?? []).map(shareDevice),
      ...STANDARD_DEVICES,
    ],
  });
}
