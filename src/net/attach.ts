/**
 * `--net` for `corral run`: parse each spec; open a NIC's backend and wrap it in a virtio-net device
 * (for the net device kind, src/devices/kinds/net.ts).
 *   tap[:NAME][,mac=MAC]     a TAP interface (root); NAME may hold %d (default corral%d)
 *   switch:NAME[,mac=MAC]    the host-local switch NAME, with DHCP served by Corral
 *   user[,host-loopback=on][,dns=IP[:PORT]][,mac=MAC]   user-mode networking (net/user/), the default
 *   none                     no NIC at all (not even the default one)
 * Each NIC's default MAC comes from the VM (its process id) and the NIC index, so two running VMs
 * never share one.
 */
import { join } from "node:path";
import { parseMac, VirtioNet, type NetBackend } from "../devices/virtio/net.js";
import { withParams } from "../vm/cmdline.js";
import { corralHome } from "../image/cache.js";
import { DhcpServer, type Subnet } from "./dhcp.js";
import { FileLeaseStore } from "./leases.js";
import { formatMac } from "./packet.js";
import { ServicesBackend } from "./services.js";
import { SwitchPort } from "./switch.js";
import { TapBackend } from "./tap.js";
import { parseHostPort, type UserNetConfig } from "./user/config.js";
import { NetError } from "./errors.js";

export type NetSpec =
  | { kind: "tap"; name?: string; mac?: string }
  | { kind: "switch"; name: string; mac?: string; offload?: false }
  | { kind: "user"; hostLoopback?: true; dns?: string; mac?: string }
  | { kind: "none" };

/** The subnet every switch serves: QEMU user networking's, familiar to users. */
export const SWITCH_SUBNET: Subnet = { network: 0x0a000200, prefix: 24, router: 0x0a000202, leaseSeconds: 86400 };
export const SWITCH_POOL = { first: 0x0a00020f, last: 0x0a0002fe } as const;

const USAGE =
  "use user[,host-loopback=on][,dns=IP[:PORT]][,mac=MAC], switch:NAME[,mac=MAC][,offload=off], tap[:NAME][,mac=MAC] or none";

export function parseNetSpec(spec: string): NetSpec {
  const [head = "", ...opts] = spec.split(",");
  let mac: string | undefined;
  let offload = true;
  let hostLoopback = false;
  let dns: string | undefined;
  const kindOf = head.split(":")[0];
  for (const o of opts) {
    if (o === "offload=off" || o === "offload=on") {
      offload = o === "offload=on";
      continue;
    }
    if (kindOf === "user" && (o === "host-loopback=on" || o === "host-loopback=off")) {
      hostLoopback = o === "host-loopback=on";
      continue;
    }
    if (kindOf === "user" && o.startsWith("dns=")) {
      dns = o.slice(4);
      if (!parseHostPort(dns, 53))
        throw new NetError("BAD_NET", `--net '${spec}': dns= takes an IPv4 address, optionally :PORT (got '${dns}')`, {
          exitCode: 2,
        });
      continue;
    }
    const m = /^mac=(.*)$/.exec(o);
    if (!m) throw new NetError("BAD_NET", `--net '${spec}': unknown option '${o}': ${USAGE}`, { exitCode: 2 });
    try {
      parseMac(m[1]!);
    } catch {
      throw new NetError("BAD_NET", `--net '${spec}': '${m[1]}' is not a MAC address: write it as 52:54:00:12:34:56`, {
        exitCode: 2,
      });
    }
    if ((parseMac(m[1]!)[0]! & 1) === 1)
      throw new NetError("BAD_NET", `--net '${spec}': ${m[1]} is a multicast MAC: the first byte must be even`, {
        exitCode: 2,
      });
    mac = m[1]!.toLowerCase();
  }
  const [kind, name, extra] = head.split(":");
  if (extra !== undefined) throw new NetError("BAD_NET", `--net '${spec}': ${USAGE}`, { exitCode: 2 });
  if ((kind === "user" || kind === "none") && name !== undefined)
    throw new NetError("BAD_NET", `--net '${spec}': ${kind} takes no name: ${USAGE}`, { exitCode: 2 });
  if (kind !== "switch" && !offload)
    throw new NetError("BAD_NET", `--net '${spec}': offload=off is an option of switch NICs`, { exitCode: 2 });
  if (kind === "none") {
    if (opts.length > 0) throw new NetError("BAD_NET", `--net none takes no options`, { exitCode: 2 });
    return { kind: "none" };
  }
  if (kind === "user")
    return {
      kind: "user",
      ...(hostLoopback ? { hostLoopback: true as const } : {}),
      ...(dns !== undefined ? { dns } : {}),
      ...(mac ? { mac } : {}),
    };
  if (kind === "tap") {
    return { kind: "tap", ...(name ? { name } : {}), ...(mac ? { mac } : {}) };
  }
  if (kind === "switch") {
    if (!name || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/.test(name)) {
      throw new NetError(
        "BAD_NET",
        `--net '${spec}': a switch needs a name of 1 to 32 letters, digits, '_', '-' or '.'`,
        { exitCode: 2 },
      );
    }
    return { kind: "switch", name, ...(mac ? { mac } : {}), ...(offload ? {} : { offload: false as const }) };
  }
  throw new NetError("BAD_NET", `--net '${spec}': ${USAGE}`, { exitCode: 2 });
}

/** 52:54 then 32 bits from the VM's pid and the NIC index: unique among running VMs. */
export function defaultMac(nic: number, pid: number = process.pid): string {
  const v = ((pid & 0x1fffffff) * 8 + (nic & 7)) >>> 0;
  return formatMac(Uint8Array.of(0x52, 0x54, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
}

/**
 * SR-IOV VF `vf`'s MAC: its PF's with the first byte's upper six bits changed (XOR (vf + 1) << 2),
 * so it stays unicast and locally administered, differs from the PF's and every other VF's of it,
 * and (as default MACs all start 52) from every default PF MAC of the host. Up to 63 VFs.
 */
export function vfMac(pfMac: string, vf: number): string {
  if (vf < 0 || vf > 62) throw new RangeError(`VF ${vf}`);
  const b = parseMac(pfMac);
  b[0] = b[0]! ^ ((vf + 1) << 2);
  return formatMac(b);
}

export function switchDir(name: string, home: string = corralHome()): string {
  return join(home, "run", "switch", name);
}

export interface NicOptions {
  /** The NIC's index in the VM (its default MAC and its port on a switch). */
  index: number;
  home: string;
  /** The device's name, e.g. eth0. */
  name: string;
  mac?: string;
  offloads: boolean;
  /** SR-IOV: the NICs behind its virtual functions (VirtioNet's option). */
  virtualFunctions?: readonly VirtioNet[];
  /** The NIC is a VF (VirtioNet's option). */
  vf?: boolean;
}

/** What opening a NIC takes: a NetSpec, or user-mode networking with its port forwards. */
export type NicBackendSpec = Exclude<NetSpec, { kind: "user" } | { kind: "none" }> | ({ kind: "user" } & UserNetConfig);

/** Open one NIC's backend and wrap it in a virtio-net device. */
export async function openNic(s: NicBackendSpec, o: NicOptions): Promise<VirtioNet> {
  const mac = o.mac ?? defaultMac(o.index);
  let backend: NetBackend;
  if (s.kind === "tap") backend = TapBackend.open(s.name);
  else if (s.kind === "user") {
    const { UserNet } = await import("./user/backend.js");
    backend = await UserNet.open(s, mac);
  } else {
    const dir = switchDir(s.name, o.home);
    const port = await SwitchPort.open(dir, o.index);
    backend = new ServicesBackend(
      port,
      new DhcpServer(SWITCH_SUBNET, new FileLeaseStore(join(dir, "leases.json"), SWITCH_POOL), mac),
    );
  }
  try {
    return new VirtioNet({
      backend,
      mac,
      name: o.name,
      offloads: o.offloads,
      ...(o.virtualFunctions ? { virtualFunctions: o.virtualFunctions } : {}),
      ...(o.vf ? { vf: true } : {}),
    });
  } catch (e) {
    backend.close?.();
    throw e;
  }
}

/** Add the network setting to a kernel command line unless the user already chose one with ip=. */
export function withNetCmdline(cmdline: string, net: string): string {
  return withParams(cmdline, net ? [net] : []);
}
