/**
 * virtio-fs (virtio 1.2 section 5.11): a host directory shared with the guest, which mounts it by
 * its tag (`mount -t virtiofs TAG /mnt`). The device carries FUSE requests (§5.11.6): queue 0 is
 * the high-priority queue (FORGET, BATCH_FORGET), queue 1 the one request queue. Each chain is a
 * request (device-readable: fuse_in_header and its arguments) followed by room for its reply
 * (device-writable: fuse_out_header and its results); fuse/server.ts serves them on the host.
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { gather, writeSegments } from "./chain-io.js";
import { ConfigSpace } from "./config-space.js";
import { DeviceId } from "./spec.js";
import { FuseServer, MAX_WRITE, type FuseServerOptions } from "./fuse/server.js";

/** §5.11.4 struct virtio_fs_config: u8 tag[36] (UTF-8, NUL-padded, not NUL-terminated when full); le32 num_request_queues. */
export const FS_CONFIG = { tag: 0, tagSize: 36, numRequestQueues: 36, size: 40 } as const;
/** The largest request a guest can make the device copy: a WRITE's payload and its headers. */
const MAX_REQUEST = MAX_WRITE + 4096;

export interface FsOptions extends FuseServerOptions {
  /** The tag the guest mounts it by: 1 to 36 bytes of UTF-8. */
  tag: string;
  name?: string;
  queueSize?: number;
}

export class VirtioFs implements VirtioDevice {
  readonly deviceId = DeviceId.FS;
  readonly name: string;
  readonly features = 0n;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = FS_CONFIG.size;
  readonly server: FuseServer;
  private readonly config = new ConfigSpace(FS_CONFIG.size);
  private ctx: VirtioDeviceContext | undefined;

  constructor(opts: FsOptions) {
    const tag = Buffer.from(opts.tag, "utf8");
    if (tag.length === 0 || tag.length > FS_CONFIG.tagSize) throw new RangeError(`virtio-fs tag '${opts.tag}'`);
    this.server = new FuseServer(opts);
    this.name = opts.name ?? "fs0";
    const size = opts.queueSize ?? 128;
    this.queueMaxSizes = [size, size];
    this.config.bytes.set(tag, FS_CONFIG.tag);
    this.config.set32(FS_CONFIG.numRequestQueues, 1);
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  notify(index: number): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(index);
    if (!ctx || !vq) return;
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const reply = this.server.handle(gather(ctx.memory, chain.readable, MAX_REQUEST), chain.writableLen);
      // A reply longer than the room given is cut to it (the guest's kernel then sees a short reply
      // and fails that request); a request without a header, or a FORGET, completes with none.
      const n = reply ? writeSegments(ctx.memory, chain.writable, 0, reply) : 0;
      vq.push(chain.head, n);
    }
    ctx.signalUsed(index);
  }

  reset(): void {
    this.ctx = undefined;
    this.server.reset();
  }

  close(): void {
    this.ctx = undefined;
    this.server.close();
  }
}
