/**
 * Bringing a namespace's loopback up without spawning `ip` (the whole of network mode "none",
 * which every container with its own network namespace needs; a spawn costs ~10 ms here).
 *
 * How: setns(2) this thread into the target namespace just long enough to create an AF_INET
 * socket, and back; a socket stays bound to the namespace it was created in, so the
 * SIOCGIFFLAGS/SIOCSIFFLAGS ioctls (netdevice(7)) on it act on the container's lo. Only the
 * calling thread switches, and no JavaScript runs while it is switched. Layouts from
 * linux/if.h and linux/sockios.h, checked against the C headers in loopback.test.ts.
 */
import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { constants } from "node:os";
import type * as Koffi from "koffi";
import { CorralError } from "../../errors.js";

/** struct ifreq: char ifr_name[IFNAMSIZ]; union { short ifr_flags; ... } (40 bytes on x86_64). */
export const IFREQ = Object.freeze({ name: 0, nameSize: 16, flags: 16, size: 40 });
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

interface Sys {
  k: typeof Koffi;
  setns: (fd: number, nstype: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  ioctl: (fd: number, request: number, ...rest: unknown[]) => number;
}
let sys: Sys | undefined;

function load(): Sys {
  if (sys === undefined) {
    const k = createRequire(import.meta.url)("koffi") as typeof Koffi;
    const so = k.load("libc.so.6");
    sys = {
      k,
      setns: so.func("int setns(int fd, int nstype)") as Sys["setns"],
      socket: so.func("int socket(int domain, int type, int protocol)") as Sys["socket"],
      ioctl: so.func("int ioctl(int fd, unsigned long request, ...)") as Sys["ioctl"],
    };
  }
  return sys;
}

function fail(s: Sys, what: string, errno = s.k.errno()): never {
  const name = Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  throw new CorralError("NET_SETUP_FAILED", `${what} failed: ${name}`);
}

/** A socket in the network namespace of `pid`, without moving anything else there. */
function socketIn(s: Sys, pid: number): number {
  let target: number;
  try {
    target = openSync(`/proc/${pid}/ns/net`, "r");
  } catch {
    throw new CorralError("NET_NO_PROCESS", `process ${pid} does not exist; start the container's process before setting up its network`);
  }
  const self = openSync("/proc/thread-self/ns/net", "r");
  try {
    if (s.setns(target, CLONE_NEWNET) !== 0) fail(s, `setns into the network namespace of ${pid}`);
    const fd = s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const errno = s.k.errno();
    if (s.setns(self, CLONE_NEWNET) !== 0) {
      // Continuing would run Corral in the container's network: stop here instead.
      process.stderr.write(`corral: fatal: cannot return to the host network namespace (errno ${s.k.errno()})\n`);
      process.abort();
    }
    if (fd < 0) fail(s, "socket in the container's network namespace", errno);
    return fd;
  } finally {
    closeSync(target);
    closeSync(self);
  }
}

/** Sets IFF_UP on `lo` in the network namespace of `pid`. */
export function loopbackUp(pid: number): void {
  const s = load();
  const fd = socketIn(s, pid);
  try {
    const req = Buffer.alloc(IFREQ.size);
    req.write("lo", IFREQ.name, "ascii");
    if (s.ioctl(fd, SIOCGIFFLAGS, "void *", req) !== 0) fail(s, "SIOCGIFFLAGS lo");
    req.writeInt16LE(req.readInt16LE(IFREQ.flags) | IFF_UP, IFREQ.flags);
    if (s.ioctl(fd, SIOCSIFFLAGS, "void *", req) !== 0) fail(s, "SIOCSIFFLAGS lo");
  } finally {
    closeSync(fd);
  }
}
