/**
 * A TAP backend (`--net tap[:NAME]`): the guest's NIC as a host network interface. The device is
 * made by opening /dev/net/tun and TUNSETIFF with IFF_TAP|IFF_NO_PI (Linux
 * Documentation/networking/tuntap.rst), not persistent, so the kernel removes it as soon as the
 * fd closes: when the VM stops, and when the process dies, even by SIGKILL.
 *
 * The fd is non-blocking. A poll(2) on a koffi worker thread says when frames are waiting; the
 * main thread then reads until EAGAIN, so the emulator never blocks on the network.
 */
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import type { NetBackend } from "../devices/virtio/net.js";
import { EACCES, EBUSY, EPERM, SysError, errnoName } from "../sys/errno.js";
import { MAX_IFNAME } from "../sys/layout.js";
import { pollReadable, tunSetIff } from "../sys/net.js";
import { NetError } from "./errors.js";

export const TUN_PATH = "/dev/net/tun";
/** The kernel replaces %d with the first free number. */
export const DEFAULT_TAP_NAME = "corral%d";
/** How long one poll waits before checking whether the backend was closed. */
const POLL_MS = 100;
/** Frames read per wakeup before giving the emulator its turn again. */
const BURST = 64;

export class TapBackend implements NetBackend {
  readonly stats = { txFrames: 0, rxFrames: 0, txErrors: 0 };
  private cb: (frame: Uint8Array) => void = () => {};
  private closed = false;
  private readonly buf = Buffer.allocUnsafe(65536);

  private constructor(
    private readonly fd: number,
    /** The interface name the kernel gave the TAP device. */
    readonly ifname: string,
  ) {
    this.pump();
  }

  /** Create a TAP interface; `name` may hold %d. Needs CAP_NET_ADMIN. */
  static open(name: string = DEFAULT_TAP_NAME): TapBackend {
    if (name.length === 0 || name.length > MAX_IFNAME || !/^[A-Za-z0-9_.%-]+$/.test(name)) {
      throw new NetError(
        "TAP_BAD_NAME",
        `'${name}' is not a valid interface name: use 1 to ${MAX_IFNAME} letters, digits, '-', '_' or '.'`,
        { exitCode: 2 },
      );
    }
    let fd: number;
    try {
      fd = openSync(TUN_PATH, constants.O_RDWR | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM")
        throw new NetError(
          "TAP_PERMISSION",
          `cannot open ${TUN_PATH} (${code}): TAP networking needs root (or CAP_NET_ADMIN); run as root or use --net switch:NAME`,
          { cause: e },
        );
      throw new NetError(
        "TAP_UNAVAILABLE",
        `cannot open ${TUN_PATH} (${code ?? "error"}): load the tun module (modprobe tun) or use --net switch:NAME`,
        { cause: e },
      );
    }
    let ifname: string;
    try {
      ifname = tunSetIff(fd, name);
    } catch (e) {
      closeSync(fd);
      const errno = e instanceof SysError ? e.errno : 0;
      if (errno === EPERM || errno === EACCES)
        throw new NetError(
          "TAP_PERMISSION",
          `cannot create TAP device '${name}' (${errnoName(errno)}): TAP networking needs root (or CAP_NET_ADMIN); run as root or use --net switch:NAME`,
          { cause: e },
        );
      if (errno === EBUSY)
        throw new NetError(
          "TAP_BUSY",
          `TAP device '${name}' is in use by another process or is not a TAP device: pick another name`,
          { cause: e },
        );
      throw new NetError(
        "TAP_FAILED",
        `cannot create TAP device '${name}' (${errnoName(errno)}): ${(e as Error).message}`,
        { cause: e },
      );
    }
    return new TapBackend(fd, ifname);
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.cb = cb;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    try {
      writeSync(this.fd, frame);
      this.stats.txFrames++;
    } catch {
      // EAGAIN (the host side is not reading) or EIO (interface down): the frame is lost, as on a wire.
      this.stats.txErrors++;
    }
  }

  private pump(): void {
    pollReadable(this.fd, POLL_MS, () => {
      if (this.closed) return;
      this.drain();
      this.pump();
    });
  }

  private drain(): void {
    for (let i = 0; i < BURST && !this.closed; i++) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch {
        return; // EAGAIN: nothing more queued (EIO while the interface is down: likewise nothing).
      }
      if (n <= 0) return;
      this.stats.rxFrames++;
      this.cb(new Uint8Array(this.buf.buffer, this.buf.byteOffset, n));
    }
  }

  /** Close the fd: the kernel deletes the interface. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
