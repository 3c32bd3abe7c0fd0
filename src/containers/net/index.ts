/**
 * Container networking on the host kernel (issue 4, "Networking"):
 *  - "bridge": a Linux bridge (default corral0) with a private subnet, created once; per container
 *    a veth pair whose peer is created directly inside the container's namespace as eth0, an
 *    address from the pool file, and a default route via the bridge's address;
 *  - { macvlan: nic } / { ipvlan: nic }: a child of a host NIC created directly inside the
 *    container's namespace as eth0 (one physical NIC appearing as several devices); an address
 *    only if a subnet is given (otherwise the network's own DHCP or the user assigns one);
 *  - "none": only lo, up.
 * Joining an existing namespace is the runtime's part (setns to the path in config.json).
 *
 * State, so cleanupNetwork works after a crash: `$CORRAL_HOME/net` (or /run/corral/net) holds a
 * pool file per network and a record per container, written before any link is created.
 * Nothing here touches the host's firewall, forwarding or routes: containers reach each other and
 * the bridge address; outbound NAT is a separate, explicit step.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IpError, ip, ipBatch, type Netns } from "./ip.js";
import { loopbackUp } from "../../sys/net.js";
import { allocate, parseSubnet, readPool, withLock, writePool, type Subnet } from "./ipam.js";
import { ContainerError } from "../errors.js";

export type NetworkMode = "bridge" | { macvlan: string } | { ipvlan: string } | "none";

export interface NetworkOptions {
  /** A process inside the container's (already created) network namespace. */
  pid: number;
  mode: NetworkMode;
  /** Bridge name for "bridge" mode; default corral0. */
  bridge?: string;
  containerId: string;
  /** IPv4 subnet; default 172.31.200.0/24 for bridges (not podman's 10.88.0.0/16), none for macvlan/ipvlan. */
  subnet?: string;
}

export interface ContainerNetwork {
  /** The container's interface: "eth0", or "lo" for "none". */
  ifname: string;
  address?: string;
  prefixLength?: number;
  gateway?: string;
  teardown(): Promise<void>;
}

export const DEFAULT_BRIDGE = "corral0";
export const DEFAULT_SUBNET = "172.31.200.0/24";
const CONTAINER_IF = "eth0";

interface NetRecord {
  containerId: string;
  kind: "bridge" | "macvlan" | "ipvlan";
  pool?: string;
  hostIf?: string;
  pid: number;
  netns: { dev: number; ino: number };
}

export function netStateDir(): string {
  const home = process.env["CORRAL_HOME"];
  return home !== undefined && home !== "" ? join(home, "net") : "/run/corral/net";
}

const recordFile = (id: string): string => join(netStateDir(), "containers", `${id}.json`);

/** Host-side veth name: interface names are at most 15 bytes (IFNAMSIZ 16), ids are longer. */
export function vethName(containerId: string): string {
  return "cv" + createHash("sha256").update(containerId).digest("hex").slice(0, 11);
}

function checkId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$/.test(id)) {
    throw new ContainerError(
      "NET_INVALID_ID",
      `container id '${id}' may only contain letters, digits and _ . + - (runc's rule)`,
    );
  }
}

function checkIfName(name: string, what: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw new ContainerError(
      "NET_INVALID_NAME",
      `${what} '${name}' is not a valid interface name (1 to 15 letters, digits, _ . -)`,
    );
  }
}

function netnsOf(pid: number): { dev: number; ino: number } {
  try {
    const s = statSync(`/proc/${pid}/ns/net`);
    return { dev: s.dev, ino: s.ino };
  } catch {
    throw new ContainerError(
      "NET_NO_PROCESS",
      `process ${pid} does not exist; start the container's process before setting up its network`,
    );
  }
}

async function ensureBridge(bridge: string, subnet: Subnet): Promise<void> {
  const want = `${subnet.gateway}/${subnet.prefix}`;
  let addrs: Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
  try {
    addrs = JSON.parse(await ip("host", ["-j", "addr", "show", "dev", bridge])) as typeof addrs;
  } catch (e) {
    if (!(e instanceof IpError && e.code === "NET_DEVICE_MISSING")) throw e;
    await ipBatch("host", [
      `link add ${bridge} type bridge`,
      `addr add ${want} dev ${bridge}`,
      `link set ${bridge} up`,
    ]);
    return;
  }
  const has = (addrs[0]?.addr_info ?? []).some((a) => `${a.local}/${a.prefixlen}` === want);
  await ipBatch("host", [...(has ? [] : [`addr add ${want} dev ${bridge}`]), `link set ${bridge} up`]);
}

/** Allocates an address in a pool and writes the container's record, under the pool's lock. */
async function reserve(
  rec: NetRecord,
  subnet: Subnet | undefined,
  before?: () => Promise<void>,
): Promise<string | undefined> {
  const dir = netStateDir();
  mkdirSync(join(dir, "containers"), { recursive: true });
  const writeRecord = (): void => writeFileSync(recordFile(rec.containerId), JSON.stringify(rec) + "\n");
  if (rec.pool === undefined || subnet === undefined) {
    writeRecord();
    return undefined;
  }
  const poolName = rec.pool;
  return withLock(dir, poolName, async () => {
    const file = join(dir, `${poolName}.json`);
    const pool = readPool(file) ?? { subnet: subnet.cidr, leases: {} };
    if (pool.subnet !== subnet.cidr) {
      throw new ContainerError(
        "NET_SUBNET_CONFLICT",
        `network ${poolName} already uses ${pool.subnet}, not ${subnet.cidr}; use the same subnet or another bridge`,
      );
    }
    await before?.();
    const address = allocate(pool, subnet, rec.containerId);
    writeRecord();
    writePool(file, pool);
    return address;
  });
}

export async function setupNetwork(opts: NetworkOptions): Promise<ContainerNetwork> {
  const id = opts.containerId;
  checkId(id);
  const netns = netnsOf(opts.pid);
  const own = netnsOf(process.pid);
  if (netns.dev === own.dev && netns.ino === own.ino) {
    throw new ContainerError(
      "NET_SAME_NAMESPACE",
      `process ${opts.pid} shares this host's network namespace; give the container its own (linux.namespaces "network")`,
    );
  }
  const inside: Netns = { pid: opts.pid };
  const mode = opts.mode;
  if (mode === "none") {
    loopbackUp(opts.pid);
    return { ifname: "lo", teardown: async () => {} };
  }
  const teardown = (): Promise<void> => cleanupNetwork(id);
  const kind = mode === "bridge" ? "bridge" : "macvlan" in mode ? "macvlan" : "ipvlan";
  const parent = mode === "bridge" ? (opts.bridge ?? DEFAULT_BRIDGE) : "macvlan" in mode ? mode.macvlan : mode.ipvlan;
  checkIfName(parent, kind === "bridge" ? "bridge" : `${kind} parent`);
  const subnetText = opts.subnet ?? (kind === "bridge" ? DEFAULT_SUBNET : undefined);
  const subnet = subnetText === undefined ? undefined : parseSubnet(subnetText);
  const rec: NetRecord = {
    containerId: id,
    kind,
    ...(subnet !== undefined ? { pool: `${kind}-${parent}` } : {}),
    ...(kind === "bridge" ? { hostIf: vethName(id) } : {}),
    pid: opts.pid,
    netns,
  };
  const address = await reserve(
    rec,
    subnet,
    kind === "bridge" && subnet !== undefined ? () => ensureBridge(parent, subnet) : undefined,
  );
  try {
    if (kind === "bridge") {
      const hostIf = vethName(id);
      await ipBatch("host", [
        `link add ${hostIf} type veth peer name ${CONTAINER_IF} netns ${opts.pid}`,
        `link set ${hostIf} master ${parent}`,
        `link set ${hostIf} up`,
      ]);
    } else {
      // Created in the host's namespace (where the parent is) and placed in the container's at once.
      const type = kind === "macvlan" ? "macvlan mode bridge" : "ipvlan mode l2";
      await ipBatch("host", [`link add ${CONTAINER_IF} link ${parent} netns ${opts.pid} type ${type}`]);
    }
    await ipBatch(inside, [
      "link set lo up",
      ...(address !== undefined && subnet !== undefined
        ? [`addr add ${address}/${subnet.prefix} dev ${CONTAINER_IF}`]
        : []),
      `link set ${CONTAINER_IF} up`,
      ...(address !== undefined && subnet !== undefined ? [`route add default via ${subnet.gateway}`] : []),
    ]);
  } catch (e) {
    await cleanupNetwork(id).catch(() => {});
    if (e instanceof IpError && e.code === "NET_DRIVER_MISSING") {
      throw new ContainerError(
        "NET_DRIVER_MISSING",
        `this kernel has no ${kind} driver (CONFIG_${kind.toUpperCase()}); use another network mode`,
        { cause: e },
      );
    }
    if (e instanceof IpError && e.code === "NET_DEVICE_MISSING" && kind !== "bridge") {
      throw new ContainerError(
        "NET_DEVICE_MISSING",
        `host interface '${parent}' does not exist; name an existing NIC for ${kind} (see 'ip link')`,
        { cause: e },
      );
    }
    throw e;
  }
  return {
    ifname: CONTAINER_IF,
    ...(address !== undefined && subnet !== undefined
      ? { address, prefixLength: subnet.prefix, gateway: subnet.gateway }
      : {}),
    teardown,
  };
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (e instanceof IpError && (e.code === "NET_DEVICE_MISSING" || e.code === "NET_NO_PROCESS")) return;
    throw e;
  }
}

/** Removes everything setupNetwork made for a container: links, leases, its record. Idempotent. */
export async function cleanupNetwork(containerId: string): Promise<void> {
  checkId(containerId);
  const dir = netStateDir();
  let rec: NetRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(recordFile(containerId), "utf8")) as NetRecord;
  } catch {
    rec = undefined;
  }
  if (rec === undefined) {
    // setupNetwork writes the record before it creates any link: without one there is no link,
    // only possibly a lease (released below).
  } else if (rec.kind === "bridge") {
    // Deleting the host end destroys the pair (and the container's eth0).
    await ignoreMissing(ip("host", ["link", "del", rec.hostIf ?? vethName(containerId)]));
  } else {
    let same = false;
    try {
      const now = statSync(`/proc/${rec.pid}/ns/net`);
      same = now.dev === rec.netns.dev && now.ino === rec.netns.ino;
    } catch {
      same = false; // the process is gone: its namespace, and the child in it, with it
    }
    if (same) await ignoreMissing(ip({ pid: rec.pid }, ["link", "del", CONTAINER_IF]));
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    files = [];
  }
  for (const f of files) {
    const poolName = f.slice(0, -".json".length);
    await withLock(dir, poolName, async () => {
      const pool = readPool(join(dir, f));
      if (pool === undefined || pool.leases[containerId] === undefined) return;
      delete pool.leases[containerId];
      writePool(join(dir, f), pool);
    });
  }
  try {
    unlinkSync(recordFile(containerId));
  } catch {
    // no record
  }
}
