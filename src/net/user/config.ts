/**
 * User-mode networking's fixed addresses and options: what QEMU's `-netdev user` (slirp) shows a
 * guest, so guides written for it apply. The guest is alone on 10.0.2.0/24 with a gateway at
 * 10.0.2.2 and a DNS server at 10.0.2.3; it gets 10.0.2.15 by DHCP.
 *
 * Port forwards are written as Docker and Podman take them: `-p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]`.
 */
import { NetError } from "../errors.js";
import { parseIpv4 } from "../packet.js";
import type { Subnet } from "../dhcp.js";

export const USER_NETWORK = 0x0a000200;
export const USER_PREFIX = 24;
export const USER_GATEWAY = 0x0a000202;
export const USER_DNS = 0x0a000203;
export const USER_GUEST = 0x0a00020f;

export const USER_SUBNET: Subnet = {
  network: USER_NETWORK,
  prefix: USER_PREFIX,
  router: USER_GATEWAY,
  dns: USER_DNS,
  leaseSeconds: 86400,
};
/** One guest per NIC: the pool is a few addresses so a guest that RELEASEs and asks again still gets one. */
export const USER_POOL = { first: USER_GUEST, last: USER_GUEST + 15 } as const;

export type ForwardProto = "tcp" | "udp";

export interface PortForward {
  proto: ForwardProto;
  /** The host address to listen on (default 127.0.0.1: only this host reaches the guest). */
  hostIp: string;
  hostPort: number;
  guestPort: number;
}

export interface UserNetConfig {
  /** The gateway address (10.0.2.2) reaches the host's 127.0.0.1; off by default. */
  hostLoopback: boolean;
  /** Where DNS queries to 10.0.2.3 go: "IP" or "IP:PORT"; default the first nameserver of /etc/resolv.conf. */
  dns?: string;
  forwards: PortForward[];
}

const PORT_USAGE = "write -p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp";

function port(text: string, what: string, spec: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535))
    throw new NetError(
      "BAD_PORT_FORWARD",
      `-p '${spec}': ${what} '${text}' is not a port from 1 to 65535: ${PORT_USAGE}`,
      { exitCode: 2 },
    );
  return n;
}

/** `-p [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]` as a PortForward. */
export function parsePortForward(spec: string): PortForward {
  const [body = "", proto = "tcp", extra] = spec.split("/");
  if (extra !== undefined || (proto !== "tcp" && proto !== "udp"))
    throw new NetError("BAD_PORT_FORWARD", `-p '${spec}': ${PORT_USAGE}`, { exitCode: 2 });
  const parts = body.split(":");
  if (parts.length < 2 || parts.length > 3)
    throw new NetError("BAD_PORT_FORWARD", `-p '${spec}': ${PORT_USAGE}`, { exitCode: 2 });
  const hostIp = parts.length === 3 ? parts[0]! : "127.0.0.1";
  if (parseIpv4(hostIp) === undefined)
    throw new NetError(
      "BAD_PORT_FORWARD",
      `-p '${spec}': '${hostIp}' is not an IPv4 address of this host: ${PORT_USAGE}`,
      { exitCode: 2 },
    );
  return {
    proto,
    hostIp,
    hostPort: port(parts[parts.length - 2]!, "host port", spec),
    guestPort: port(parts[parts.length - 1]!, "guest port", spec),
  };
}

/** The text form of a forward, as the user writes it (error messages). */
export function formatForward(f: PortForward): string {
  return `${f.hostIp}:${f.hostPort}:${f.guestPort}/${f.proto}`;
}

/** "IP" or "IP:PORT" (a DNS server) to address and port, or undefined. */
export function parseHostPort(text: string, defaultPort: number): { ip: string; port: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d{1,5}))?$/.exec(text);
  if (!m || parseIpv4(m[1]!) === undefined) return undefined;
  const p = m[2] === undefined ? defaultPort : Number(m[2]);
  return p >= 1 && p <= 65535 ? { ip: m[1]!, port: p } : undefined;
}
