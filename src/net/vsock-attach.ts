/**
 * `--vsock PATH[,cid=N]` for `corral run`: a virtio-vsock device whose host side is the Unix
 * socket PATH (vsock-unix.ts). The guest's CID defaults to 3, the first one not reserved
 * (virtio 1.2 §5.10.4: 0-2 are reserved, 2 being the host).
 */
import { resolve } from "node:path";
import { MAX_GUEST_CID, MIN_GUEST_CID, VirtioVsock } from "../devices/virtio/vsock.js";
import { UnixVsockBackend } from "./vsock-unix.js";
import { NetError } from "./errors.js";

export const DEFAULT_GUEST_CID = 3;

export interface VsockSpec {
  /** Absolute path of the VM's Unix socket. */
  path: string;
  guestCid: number;
}

const USAGE = "use --vsock PATH[,cid=N] with N from 3 to 4294967294";

export function parseVsockSpec(spec: string): VsockSpec {
  const [path = "", ...opts] = spec.split(",");
  if (path === "") throw new NetError("BAD_VSOCK", `--vsock '${spec}': no socket path: ${USAGE}`, { exitCode: 2 });
  let guestCid = DEFAULT_GUEST_CID;
  for (const o of opts) {
    const m = /^cid=(\d{1,10})$/.exec(o);
    const cid = m ? Number(m[1]) : NaN;
    if (!(cid >= MIN_GUEST_CID && cid <= MAX_GUEST_CID))
      throw new NetError("BAD_VSOCK", `--vsock '${spec}': bad option '${o}': ${USAGE}`, { exitCode: 2 });
    guestCid = cid;
  }
  return { path: resolve(path), guestCid };
}

/** Listen on the spec's socket and make the device (closing the device closes the socket). */
export async function openVsock(spec: VsockSpec, name?: string): Promise<VirtioVsock> {
  const backend = await UnixVsockBackend.open(spec.path);
  return new VirtioVsock({ guestCid: spec.guestCid, backend, ...(name !== undefined ? { name } : {}) });
}
