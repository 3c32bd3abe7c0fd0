/**
 * virtio-console (virtio 1.2 §5.3). Port 0 is the guest's hvc0 console; with MULTIPORT the device
 * also offers named ports (/dev/vportNpM, /dev/virtio-ports/<name> in the guest) for channels such
 * as a guest agent.
 *
 * Queues (§5.3.2): 0/1 receiveq/transmitq of port 0, 2/3 the control receiveq/transmitq, then a
 * receiveq/transmitq pair per further port (port p: 2p+2, 2p+3). Bytes for the guest wait in a
 * bounded per-port buffer until the driver posts receive buffers and, with MULTIPORT, until it has
 * opened the port (PORT_OPEN): Linux throws away input for a port it has not connected, and that
 * includes hvc0 until its console is set up (virtio_console.c sends PORT_OPEN for it then).
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import type { Virtqueue } from "./virtqueue.js";
import { ConfigSpace } from "./config-space.js";
import { gather, writeSegments } from "./chain-io.js";
import { DeviceId, feature, hasFeature } from "./spec.js";
import { bool, corrupt, list, type Json, type SavedState } from "../../snapshot/state.js";

const b64 = (parts: readonly Uint8Array[]): string => Buffer.concat(parts).toString("base64");
const unb64 = (v: Json | undefined, what: string): Uint8Array => {
  if (typeof v !== "string") throw corrupt(what);
  return new Uint8Array(Buffer.from(v, "base64"));
};

/** §5.3.3 feature bits. */
export const ConsoleFeature = { SIZE: 0, MULTIPORT: 1, EMERG_WRITE: 2 } as const;

/** §5.3.4 struct virtio_console_config. */
export const CONSOLE_CONFIG = { size: 12, cols: 0, rows: 2, maxNrPorts: 4, emergWr: 8 } as const;

/** §5.3.6.2 struct virtio_console_control, followed by the name for PORT_NAME. */
export const CONSOLE_CONTROL = { size: 8, id: 0, event: 4, value: 6 } as const;

/** §5.3.6.2 control events. */
export const ConsoleEvent = {
  DEVICE_READY: 0,
  DEVICE_ADD: 1,
  DEVICE_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

/** Bytes kept per port for a guest that is not reading; older bytes are dropped beyond this. */
export const INPUT_LIMIT = 1 << 20;
/**
 * Control messages held for the guest while it posts no control receive buffers. The guest's own
 * messages (DEVICE_READY, PORT_READY) each queue replies: a guest sending them in a loop without
 * posting buffers grew the queue in host memory without bound. A driver needs a few per port.
 */
export const CONTROL_LIMIT = 64;
/** Bytes taken from one transmit chain at most. */
const OUTPUT_LIMIT = 1 << 20;

export interface ConsolePortOptions {
  name: string;
  onOutput?: (bytes: Uint8Array) => void;
}

export interface ConsoleOptions {
  name?: string;
  /** Output of hvc0 (port 0). */
  onOutput?: (bytes: Uint8Array) => void;
  /** Further named ports (ids 1, 2, ...). */
  ports?: readonly ConsolePortOptions[];
  queueSize?: number;
}

/** One port as the host sees it. */
export class ConsolePort {
  /** The guest has the port open (PORT_OPEN from the driver; without MULTIPORT hvc0 always is). */
  guestOpen = false;
  onOutput: (bytes: Uint8Array) => void;
  onGuestOpenChange: (open: boolean) => void = () => {};
  /** Bytes waiting for receive buffers. */
  pending: Uint8Array[] = [];
  pendingBytes = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    onOutput: ((bytes: Uint8Array) => void) | undefined,
    private readonly console: VirtioConsole,
  ) {
    this.onOutput = onOutput ?? (() => {});
  }

  /** Send bytes to the guest on this port. */
  write(bytes: Uint8Array): void {
    this.console.pushInput(bytes, this.id);
  }
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = DeviceId.CONSOLE;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = CONSOLE_CONFIG.size;
  readonly ports: readonly ConsolePort[];
  private readonly config = new ConfigSpace(CONSOLE_CONFIG.size);
  private ctx: VirtioDeviceContext | undefined;
  private multiport = false;
  /** Control messages waiting for control receive buffers. */
  private control: Uint8Array[] = [];

  constructor(opts: ConsoleOptions = {}) {
    this.name = opts.name ?? "console0";
    const extra = opts.ports ?? [];
    this.ports = [
      new ConsolePort(0, "", opts.onOutput, this),
      ...extra.map((p, i) => new ConsolePort(i + 1, p.name, p.onOutput, this)),
    ];
    const qs = opts.queueSize ?? 64;
    // MULTIPORT is offered even with hvc0 alone, as QEMU's virtio-serial does: only its control
    // messages tell when the guest has set up its console (PORT_OPEN), and Linux discards input
    // that reaches the port before that. A driver that does not take it uses port 0's pair alone.
    this.features = feature(ConsoleFeature.EMERG_WRITE) | feature(ConsoleFeature.MULTIPORT);
    // Port 0's pair, the control pair, then one pair per further port.
    this.queueMaxSizes = Array.from({ length: 2 * (this.ports.length + 1) }, () => qs);
    this.config.set32(CONSOLE_CONFIG.maxNrPorts, this.ports.length);
  }

  /** The port called `name` (port 0, hvc0, is ""). */
  port(name: string): ConsolePort | undefined {
    return this.ports.find((p) => p.name === name);
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }

  /** §5.3.4: a write to emerg_wr is one character of port 0 output, even before queues exist. */
  writeConfig(offset: number, _size: 1 | 2 | 4, value: number): void {
    if (offset === CONSOLE_CONFIG.emergWr) this.ports[0]!.onOutput(Uint8Array.of(value & 0xff));
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.multiport = hasFeature(ctx.features, ConsoleFeature.MULTIPORT);
    // Without MULTIPORT there are no control messages: port 0, the console, is open from the start.
    this.ports[0]!.guestOpen = !this.multiport;
    this.fillAll();
  }

  private rxQueue(port: number): number {
    return port === 0 ? 0 : 2 * port + 2;
  }

  notify(index: number): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const vq = ctx.queue(index);
    if (!vq) return;
    if (index === 2) this.sendControl();
    else if (index === 3) this.receiveControl(vq);
    else if (index % 2 === 1) this.transmit(vq, index === 1 ? 0 : (index - 3) / 2);
    else this.fill(index === 0 ? 0 : (index - 2) / 2);
    ctx.signalUsed(index);
  }

  /** Queue bytes for the guest on port `id` and deliver what the posted buffers can hold. */
  pushInput(bytes: Uint8Array, id = 0): void {
    const port = this.ports[id];
    if (!port || bytes.length === 0) return;
    port.pending.push(bytes.slice());
    port.pendingBytes += bytes.length;
    while (port.pendingBytes > INPUT_LIMIT && port.pending.length > 1)
      port.pendingBytes -= port.pending.shift()!.length;
    this.fill(id);
  }

  private fillAll(): void {
    for (const p of this.ports) this.fill(p.id);
  }

  /** Move pending input of port `id` into its receive queue. */
  private fill(id: number): void {
    const ctx = this.ctx;
    const port = this.ports[id];
    // Without MULTIPORT only port 0 is ever open (the others open by control messages).
    if (!ctx || !port || !port.guestOpen) return;
    const qi = this.rxQueue(id);
    const vq = ctx.queue(qi);
    if (!vq) return;
    let pushed = false;
    while (port.pending.length > 0 && vq.hasAvailable()) {
      const chain = vq.pop();
      if (!chain) break;
      let written = 0;
      while (port.pending.length > 0 && written < chain.writableLen) {
        const head = port.pending[0]!;
        const n = writeSegments(ctx.memory, chain.writable, written, head.subarray(0, chain.writableLen - written));
        written += n;
        port.pendingBytes -= n;
        if (n === head.length) port.pending.shift();
        else port.pending[0] = head.subarray(n);
      }
      vq.push(chain.head, written);
      pushed = true;
    }
    if (pushed) ctx.signalUsed(qi);
  }

  /** Output from the guest: each chain's readable bytes, in order. */
  private transmit(vq: Virtqueue, id: number): void {
    const ctx = this.ctx!;
    const port = this.ports[id];
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const bytes = gather(ctx.memory, chain.readable, OUTPUT_LIMIT);
      vq.push(chain.head, 0);
      if (port && bytes.length > 0) port.onOutput(bytes);
    }
  }

  private queueControl(id: number, event: number, value: number, extra?: Uint8Array): void {
    const msg = new Uint8Array(CONSOLE_CONTROL.size + (extra?.length ?? 0));
    const v = new DataView(msg.buffer);
    v.setUint32(CONSOLE_CONTROL.id, id, true);
    v.setUint16(CONSOLE_CONTROL.event, event, true);
    v.setUint16(CONSOLE_CONTROL.value, value, true);
    if (extra) msg.set(extra, CONSOLE_CONTROL.size);
    if (this.control.length < CONTROL_LIMIT) this.control.push(msg);
    this.sendControl();
  }

  /** Deliver queued control messages, one per control receive buffer (§5.3.6.2). */
  private sendControl(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(2);
    if (!ctx || !vq) return;
    let pushed = false;
    while (this.control.length > 0 && vq.hasAvailable()) {
      const chain = vq.pop();
      if (!chain) break;
      const msg = this.control.shift()!;
      // A buffer too small for the message gets it truncated; Linux posts 4 KiB buffers.
      vq.push(chain.head, writeSegments(ctx.memory, chain.writable, 0, msg.subarray(0, chain.writableLen)));
      pushed = true;
    }
    if (pushed) ctx.signalUsed(2);
  }

  /** Messages from the driver (§5.3.6.2.1). */
  private receiveControl(vq: Virtqueue): void {
    const ctx = this.ctx!;
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const msg = gather(ctx.memory, chain.readable, CONSOLE_CONTROL.size);
      vq.push(chain.head, 0);
      if (msg.length < CONSOLE_CONTROL.size) continue; // too short: ignored
      const v = new DataView(msg.buffer);
      this.onControl(
        v.getUint32(CONSOLE_CONTROL.id, true),
        v.getUint16(CONSOLE_CONTROL.event, true),
        v.getUint16(CONSOLE_CONTROL.value, true),
      );
    }
  }

  private onControl(id: number, event: number, value: number): void {
    if (!this.multiport) return;
    if (event === ConsoleEvent.DEVICE_READY) {
      if (value === 1) for (const p of this.ports) this.queueControl(p.id, ConsoleEvent.DEVICE_ADD, 0);
      return;
    }
    const port = this.ports[id];
    if (!port) return; // an id we never announced: ignored
    if (event === ConsoleEvent.PORT_READY && value === 1) {
      if (port.id === 0) this.queueControl(0, ConsoleEvent.CONSOLE_PORT, 1);
      else this.queueControl(port.id, ConsoleEvent.PORT_NAME, 0, new TextEncoder().encode(port.name));
      // The host side of every port is connected as long as the device exists.
      this.queueControl(port.id, ConsoleEvent.PORT_OPEN, 1);
      this.fill(port.id);
    } else if (event === ConsoleEvent.PORT_OPEN) {
      const open = value === 1;
      if (open !== port.guestOpen) {
        port.guestOpen = open;
        port.onGuestOpenChange(open);
      }
      if (open) this.fill(port.id);
    }
  }

  /** Which ports the guest has open, input and control messages not yet delivered. */
  saveState(): SavedState {
    return {
      multiport: this.multiport,
      ports: this.ports.map((p) => ({ open: p.guestOpen, pending: b64(p.pending) })),
      control: this.control.map((m) => b64([m])),
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | undefined): void {
    this.ctx = ctx;
    this.multiport = bool(s, "multiport");
    const ports = list(s, "ports");
    if (ports.length !== this.ports.length) throw corrupt(`${this.name} has ${ports.length} ports`);
    ports.forEach((j, i) => {
      const p = this.ports[i]!;
      const o = j as SavedState;
      p.guestOpen = bool(o, "open");
      const pending = unb64(o["pending"], `${this.name} port ${i}`);
      p.pending = pending.length > 0 ? [pending] : [];
      p.pendingBytes = pending.length;
    });
    this.control = list(s, "control").map((m) => unb64(m, `${this.name} control`));
  }

  reset(): void {
    this.ctx = undefined;
    this.control = [];
    for (const p of this.ports) {
      if (p.guestOpen) p.onGuestOpenChange(false);
      p.guestOpen = false;
    }
  }

  close(): void {
    this.reset();
  }
}
