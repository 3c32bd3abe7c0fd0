/**
 * Test helpers that speak virtio-vsock through the mock driver, the way Linux's
 * virtio_transport.c does: receive buffers of 4 KiB plus a header posted on queue 0, packets
 * (header, then payload) sent on queue 1.
 */
import { VSOCK_HDR } from "../layout.js";
import { VirtioMmioTransport } from "../transport-mmio.js";
import {
  VSOCK_HOST_CID,
  VSOCK_TYPE_STREAM,
  VirtioVsock,
  VsockOp,
  decodeVsockHeader,
  encodeVsockHeader,
  type VsockBackend,
  type VsockHeader,
} from "../vsock.js";
import { MockDriver, MockIrq, makeRam, type PostedBuffer } from "./mock-driver.js";

export const TEST_GUEST_CID = 3;

/** A header from the guest (CID 3, port 1234) to host port 5000, with `over` changed. */
export function vsockHdr(over: Partial<VsockHeader>): VsockHeader {
  return {
    srcCid: BigInt(TEST_GUEST_CID),
    dstCid: BigInt(VSOCK_HOST_CID),
    srcPort: 1234,
    dstPort: 5000,
    len: 0,
    type: VSOCK_TYPE_STREAM,
    op: VsockOp.RW,
    flags: 0,
    bufAlloc: 65536,
    fwdCnt: 0,
    ...over,
  };
}

/** Header and payload as one buffer; `len` is the payload's unless the header says otherwise. */
export function vsockPacket(h: VsockHeader, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(VSOCK_HDR.size + payload.length);
  encodeVsockHeader({ ...h, len: h.len || payload.length }, b);
  b.set(payload, VSOCK_HDR.size);
  return b;
}

export interface VsockRig {
  dev: VirtioVsock;
  drv: MockDriver;
  /** Post `n` receive buffers and kick. */
  post(n: number, size?: number): void;
  /** Packets the device put in receive buffers since the last call. */
  recv(): { h: VsockHeader; payload: Uint8Array }[];
  /** Send one packet on the transmit queue. */
  send(h: VsockHeader, payload?: Uint8Array): void;
}

export function vsockRig(backend: VsockBackend): VsockRig {
  const ram = makeRam(4 << 20);
  const irq = new MockIrq();
  const dev = new VirtioVsock({ guestCid: TEST_GUEST_CID, backend });
  const t = new VirtioMmioTransport({ device: dev, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init();
  const posted = new Map<number, PostedBuffer>();
  return {
    dev,
    drv,
    post(n, size = 4096 + VSOCK_HDR.size) {
      for (let i = 0; i < n; i++) {
        const a = drv.add(0, [], [size]);
        posted.set(a.head, a.writable[0]!);
      }
      drv.kick(0);
    },
    recv() {
      return drv.reap(0).map((u) => {
        const b = drv.readBuf(posted.get(u.id)!).subarray(0, u.len);
        const h = decodeVsockHeader(b);
        return { h, payload: b.subarray(VSOCK_HDR.size, VSOCK_HDR.size + h.len) };
      });
    },
    send(h, payload) {
      drv.request(1, [vsockPacket(h, payload)], []);
    },
  };
}
