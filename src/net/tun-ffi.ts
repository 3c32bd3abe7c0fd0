/**
 * Raw bindings for TAP devices (Linux Documentation/networking/tuntap.rst): the ioctl that
 * attaches an fd of /dev/net/tun to an interface, and poll(2) run on a koffi worker thread so
 * the emulator thread never waits for a frame. Only tap.ts uses these.
 */
import { createRequire } from "node:module";
import type Koffi from "koffi";

type KoffiModule = typeof Koffi;
let koffiModule: KoffiModule | undefined;
function koffi(): KoffiModule {
  koffiModule ??= createRequire(import.meta.url)("koffi") as KoffiModule;
  return koffiModule;
}

/** struct ifreq (linux/if.h): the name, then a union whose first member is short ifr_flags. */
export const IFREQ = { name: 0, nameSize: 16, flags: 16, size: 40 } as const;
/** struct pollfd (poll.h). */
export const POLLFD = { fd: 0, events: 4, revents: 6, size: 8 } as const;
export const POLLIN = 1;
/** _IOW('T', 202, int) (linux/if_tun.h). */
export const TUNSETIFF = 0x400454ca;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
/** IFNAMSIZ minus the NUL. */
export const MAX_IFNAME = 15;

interface TunLib {
  ioctl: (fd: number, req: number, arg: Buffer) => number;
  pollAsync: (fd: number, timeoutMs: number, cb: (err: unknown, res: number) => void) => void;
}

let lib: TunLib | undefined;

function load(): TunLib {
  if (lib) return lib;
  const k = koffi();
  const libc = k.load("libc.so.6");
  const ioctl = libc.func("int ioctl(int fd, unsigned long request, void *arg)");
  // The pollfd is a koffi struct, not a Buffer: koffi copies it into memory of its own for the
  // asynchronous call, so nothing the garbage collector may move or free reaches the worker thread.
  k.struct("corral_pollfd", { fd: "int", events: "short", revents: "short" });
  const poll = libc.func("int poll(_Inout_ corral_pollfd *fds, unsigned long nfds, int timeout)");
  lib = {
    ioctl: (fd, req, arg) => ioctl(fd, req, arg) as number,
    pollAsync: (fd, t, cb) => poll.async({ fd, events: POLLIN, revents: 0 }, 1, t, cb),
  };
  return lib;
}

/** ioctl(TUNSETIFF) with IFF_TAP|IFF_NO_PI; returns the kernel's interface name or throws the errno. */
export function tunSetIff(fd: number, name: string): string {
  const req = Buffer.alloc(IFREQ.size);
  req.write(name, IFREQ.name, IFREQ.nameSize - 1, "latin1");
  req.writeInt16LE(IFF_TAP | IFF_NO_PI, IFREQ.flags);
  if (load().ioctl(fd, TUNSETIFF, req) !== 0) {
    const errno = koffi().errno();
    throw Object.assign(new Error(`TUNSETIFF failed (errno ${errno})`), { errno });
  }
  const end = req.indexOf(0, IFREQ.name);
  return req.toString("latin1", IFREQ.name, end < 0 || end > IFREQ.nameSize ? IFREQ.nameSize : end);
}

/** poll(fd, POLLIN, timeoutMs) on a worker thread; cb gets poll's result (>0 readable, 0 timeout, <0 error). */
export function pollReadable(fd: number, timeoutMs: number, cb: (res: number) => void): void {
  load().pollAsync(fd, timeoutMs, (err, res) => cb(err ? -1 : res));
}
