/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one queue of device-writable buffers that the
 * device fills with random bytes from the host (node:crypto, the kernel's CSPRNG).
 */
import { nodeCrypto } from "../../builtins.js";
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { writeSegments } from "./chain-io.js";
import { DeviceId } from "./spec.js";

/** Bytes filled per request at most: a guest asking for more gets a short (valid) answer. */
export const RNG_MAX_REQUEST = 64 * 1024;

export interface RngOptions {
  name?: string;
  queueSize?: number;
  /** Entropy source (tests may pass a deterministic one); defaults to node:crypto. */
  fill?: (buf: Uint8Array) => void;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceId = DeviceId.ENTROPY;
  readonly name: string;
  readonly features = 0n;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = 0;
  private ctx: VirtioDeviceContext | undefined;
  private readonly fill: (buf: Uint8Array) => void;

  constructor(opts: RngOptions = {}) {
    this.name = opts.name ?? "rng0";
    this.queueMaxSizes = [opts.queueSize ?? 64];
    // node:crypto loads on the guest's first request, not with the device (src/builtins.ts).
    this.fill = opts.fill ?? ((b) => nodeCrypto().randomFillSync(b));
  }

  readConfig(): number {
    return 0;
  }
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  notify(index: number): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(index);
    if (!ctx || !vq || index !== 0) return;
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      // §5.4.6.1: the device must not read from device-writable buffers; readable ones are ignored.
      const n = Math.min(chain.writableLen, RNG_MAX_REQUEST);
      const bytes = new Uint8Array(n);
      this.fill(bytes);
      vq.push(chain.head, writeSegments(ctx.memory, chain.writable, 0, bytes));
    }
    ctx.signalUsed(index);
  }

  /** Nothing beyond its queue: every request is answered at once. */
  saveState(): Record<string, never> {
    return {};
  }
  restoreState(_s: unknown, ctx: VirtioDeviceContext | undefined): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = undefined;
  }

  close(): void {
    this.ctx = undefined;
  }
}
