/**
 * Network interfaces through ioctl(2): a TAP device's fd (Linux Documentation/networking/tuntap.rst),
 * poll(2) on a koffi worker thread so the emulator thread never waits for a frame, and a network
 * namespace's loopback brought up without spawning `ip` (a spawn costs ~10 ms here; network mode
 * "none" of every container with its own namespace needs only this).
 */
import { closeSync, openSync } from "node:fs";
import { SysError } from "./errno.js";
import { sys, type Libc } from "./libc.js";
import {
  AF_INET,
  CLONE_NEWNET,
  IFF_NO_PI,
  IFF_TAP,
  IFF_UP,
  IFREQ,
  POLLIN,
  SIOCGIFFLAGS,
  SIOCSIFFLAGS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  TUNSETIFF,
} from "./layout.js";
import { SysCallError } from "./errors.js";

/** ioctl(TUNSETIFF) with IFF_TAP|IFF_NO_PI; returns the kernel's interface name or throws a SysError. */
export function tunSetIff(fd: number, name: string): string {
  const c = sys();
  const req = Buffer.alloc(IFREQ.size);
  req.write(name, IFREQ.name, IFREQ.nameSize - 1, "latin1");
  req.writeInt16LE(IFF_TAP | IFF_NO_PI, IFREQ.flags);
  if (c.ioctl(fd, TUNSETIFF, req) !== 0) throw new SysError("TAP_FAILED", "TUNSETIFF", c.errno());
  const end = req.indexOf(0, IFREQ.name);
  return req.toString("latin1", IFREQ.name, end < 0 || end > IFREQ.nameSize ? IFREQ.nameSize : end);
}

/** poll(fd, POLLIN, timeoutMs) on a worker thread; cb gets poll's result (>0 readable, 0 timeout, <0 error). */
export function pollReadable(fd: number, timeoutMs: number, cb: (res: number) => void): void {
  sys().pollAsync({ fd, events: POLLIN, revents: 0 }, 1, timeoutMs, (err, res) => cb(err ? -1 : res));
}

/**
 * A socket in the network namespace of `pid`, without moving anything else there: setns(2) this
 * thread in just long enough to create an AF_INET socket, and back. A socket stays bound to the
 * namespace it was made in, so ioctls on it act there. No JavaScript runs while it is switched.
 */
function socketIn(c: Libc, pid: number): number {
  let target: number;
  try {
    target = openSync(`/proc/${pid}/ns/net`, "r");
  } catch {
    throw new SysCallError(
      "NET_NO_PROCESS",
      `process ${pid} does not exist; start the container's process before setting up its network`,
    );
  }
  const self = openSync("/proc/thread-self/ns/net", "r");
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0)
      throw new SysError("NET_SETUP_FAILED", `setns into the network namespace of ${pid}`, c.errno());
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const errno = c.errno();
    if (c.setns(self, CLONE_NEWNET) !== 0) {
      // Continuing would run Corral in the container's network: stop here instead.
      process.stderr.write(`corral: fatal: cannot return to the host network namespace (errno ${c.errno()})\n`);
      process.abort();
    }
    if (fd < 0) throw new SysError("NET_SETUP_FAILED", "socket in the container's network namespace", errno);
    return fd;
  } finally {
    closeSync(target);
    closeSync(self);
  }
}

/** Sets IFF_UP on `lo` in the network namespace of `pid` (SIOCGIFFLAGS/SIOCSIFFLAGS, netdevice(7)). */
export function loopbackUp(pid: number): void {
  const c = sys();
  const fd = socketIn(c, pid);
  try {
    const req = Buffer.alloc(IFREQ.size);
    req.write("lo", IFREQ.name, "ascii");
    if (c.ioctl(fd, SIOCGIFFLAGS, req) !== 0) throw new SysError("NET_SETUP_FAILED", "SIOCGIFFLAGS lo", c.errno());
    req.writeInt16LE(req.readInt16LE(IFREQ.flags) | IFF_UP, IFREQ.flags);
    if (c.ioctl(fd, SIOCSIFFLAGS, req) !== 0) throw new SysError("NET_SETUP_FAILED", "SIOCSIFFLAGS lo", c.errno());
  } finally {
    closeSync(fd);
  }
}
