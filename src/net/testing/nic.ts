/**
 * A virtio-net NIC driven by the mock driver (devices/virtio/testing), for the network tests:
 * frames go through real split virtqueues in guest RAM, the device and a backend.
 */
import { NET_HDR, VirtioNet, parseMac, type NetBackend } from "../../devices/virtio/net.js";
import { MockDriver, MockIrq, makeRam } from "../../devices/virtio/testing/mock-driver.js";
import { VirtioMmioTransport } from "../../devices/virtio/transport-mmio.js";

export interface TestNic {
  dev: VirtioNet;
  /** Transmit one frame as the guest would (a virtio_net_hdr, then the frame). */
  send(f: Uint8Array): void;
  /** Frames the guest has received so far (without their virtio_net_hdr). */
  received(): Uint8Array[];
}

/** A NIC with 32 receive buffers posted. */
export function nic(backend: NetBackend, mac: string): TestNic {
  const ram = makeRam();
  const irq = new MockIrq();
  const dev = new VirtioNet({ backend, mac, queueSize: 64 });
  const drv = new MockDriver(ram, new VirtioMmioTransport({ device: dev, memory: ram, irq, irqNumber: 1 }), irq);
  drv.init({ want: drv.deviceFeatures() });
  const posted = Array.from({ length: 32 }, () => drv.add(0, [], [NET_HDR.size + 1514]));
  drv.kick(0);
  return {
    dev,
    send(f: Uint8Array): void {
      drv.request(1, [new Uint8Array(NET_HDR.size), f], []);
    },
    received(): Uint8Array[] {
      return drv.reap(0).map((u) => {
        const b = posted.find((p) => p.head === u.id)!;
        return drv.readBuf(b.writable[0]!).subarray(NET_HDR.size, u.len);
      });
    },
  };
}

/** An Ethernet frame of the local experimental EtherType 0x88b5 carrying text. */
export function frame(dst: string, src: string, text: string): Uint8Array {
  return new Uint8Array([
    ...parseMac(dst),
    ...parseMac(src),
    0x88,
    0xb5,
    ...new TextEncoder().encode(text.padEnd(46, ".")),
  ]);
}
