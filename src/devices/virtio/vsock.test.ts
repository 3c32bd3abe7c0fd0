import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_GUEST_CID as CID, vsockHdr, vsockPacket, vsockRig } from "./testing/vsock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import type { Prng } from "./testing/prng.js";
import { Reg } from "./transport-mmio.js";
import { DeviceId } from "./spec.js";
import {
  BUF_ALLOC,
  CONTROL_LIMIT,
  HOST_PENDING_LIMIT,
  MAX_CONNECTIONS,
  VirtioVsock,
  VsockOp,
  VsockShutdown,
  type GuestEnd,
  type HostEnd,
  type VsockBackend,
} from "./vsock.js";

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A host end that records what the device did to it. */
class FakeHost implements HostEnd {
  written: Uint8Array[] = [];
  queued = 0;
  ended = false;
  closed = false;
  paused = false;
  established_: number | undefined;
  guest: GuestEnd | undefined;
  write(b: Uint8Array): void {
    this.written.push(b.slice());
  }
  endWrite(): void {
    this.ended = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  established(hostPort: number): void {
    this.established_ = hostPort;
  }
  close(): void {
    this.closed = true;
  }
  get text(): string {
    return this.written.map(text).join("");
  }
}

/** A backend where host port 5000 listens and every other port refuses. */
class FakeBackend implements VsockBackend {
  open: ((port: number, host: HostEnd) => GuestEnd | null) | undefined;
  accepted: FakeHost[] = [];
  closed = false;
  connect(port: number, guest: GuestEnd, done: (host: HostEnd | null) => void): void {
    if (port !== 5000) return done(null);
    const h = new FakeHost();
    h.guest = guest;
    this.accepted.push(h);
    done(h);
  }
  start(open: (port: number, host: HostEnd) => GuestEnd | null): void {
    this.open = open;
  }
  close(): void {
    this.closed = true;
  }
  /** A host program's CONNECT <port>. */
  hostConnect(port: number): FakeHost {
    const h = new FakeHost();
    h.guest = this.open!(port, h) ?? undefined;
    return h;
  }
}

function rig() {
  const backend = new FakeBackend();
  return { ...vsockRig(backend), backend };
}

test("virtio-vsock: device id 19 and the guest CID in the configuration space (§5.10.4)", () => {
  const { drv } = rig();
  assert.equal(drv.reg(Reg.DEVICE_ID), DeviceId.SOCKET);
  assert.equal(drv.reg(Reg.CONFIG), CID);
  assert.equal(drv.reg(Reg.CONFIG + 4), 0);
  assert.throws(() => new VirtioVsock({ guestCid: 2, backend: new FakeBackend() }), /not between 3/);
});

test("a guest connection to CID 2 reaches the listening host port, data both ways, SHUTDOWN then RST", () => {
  const { backend, post, recv, send } = rig();
  post(8);
  send(vsockHdr({ op: VsockOp.REQUEST }));
  const [resp] = recv();
  assert.deepEqual(
    [resp!.h.op, resp!.h.srcCid, resp!.h.dstCid, resp!.h.srcPort, resp!.h.dstPort, resp!.h.bufAlloc],
    [VsockOp.RESPONSE, 2n, 3n, 5000, 1234, BUF_ALLOC],
  );
  const host = backend.accepted[0]!;
  send(vsockHdr({ op: VsockOp.RW }), bytes("ping"));
  assert.equal(host.text, "ping");
  host.guest!.data(bytes("pong"));
  const [rw] = recv();
  assert.deepEqual([rw!.h.op, text(rw!.payload)], [VsockOp.RW, "pong"]);
  // The host closes: the guest hears SHUTDOWN (both), answers RST, and the connection is gone.
  host.guest!.closed();
  const [shut] = recv();
  assert.deepEqual([shut!.h.op, shut!.h.flags], [VsockOp.SHUTDOWN, VsockShutdown.RCV | VsockShutdown.SEND]);
  send(vsockHdr({ op: VsockOp.RST }));
  assert.equal(recv().length, 0, "no answer to RST");
});

test("a guest connection to a port nobody listens on is answered RST", () => {
  const { post, recv, send, dev } = rig();
  post(2);
  send(vsockHdr({ op: VsockOp.REQUEST, dstPort: 7 }));
  assert.deepEqual(
    recv().map((p) => [p.h.op, p.h.srcPort, p.h.dstPort]),
    [[VsockOp.RST, 7, 1234]],
  );
  assert.equal(dev.connections, 0);
});

test("a host CONNECT becomes a REQUEST; RESPONSE establishes it, RST refuses it", () => {
  const { backend, post, recv, send } = rig();
  post(8);
  const host = backend.hostConnect(52);
  const [req] = recv();
  assert.deepEqual([req!.h.op, req!.h.dstPort, req!.h.dstCid], [VsockOp.REQUEST, 52, 3n]);
  const hostPort = req!.h.srcPort;
  assert.ok(hostPort >= 2 ** 30);
  host.guest!.data(bytes("early")); // held until the guest accepts
  assert.equal(recv().length, 0);
  send(vsockHdr({ op: VsockOp.RESPONSE, srcPort: 52, dstPort: hostPort }));
  assert.equal(host.established_, hostPort);
  assert.deepEqual(
    recv().map((p) => text(p.payload)),
    ["early"],
  );
  send(vsockHdr({ op: VsockOp.RW, srcPort: 52, dstPort: hostPort }), bytes("reply"));
  assert.equal(host.text, "reply");
  const refused = backend.hostConnect(53);
  const [req2] = recv();
  send(vsockHdr({ op: VsockOp.RST, srcPort: 53, dstPort: req2!.h.srcPort }));
  assert.equal(refused.closed, true);
  assert.equal(refused.established_, undefined);
});

test("credit: the device never sends beyond the guest's buf_alloc, and resumes on CREDIT_UPDATE", () => {
  const { backend, post, recv, send } = rig();
  post(64);
  send(vsockHdr({ op: VsockOp.REQUEST, bufAlloc: 1000 }));
  recv();
  const host = backend.accepted[0]!;
  host.guest!.data(new Uint8Array(3000).fill(7));
  const first = recv();
  assert.equal(
    first.reduce((n, p) => n + p.payload.length, 0),
    1000,
    "exactly the guest's buf_alloc",
  );
  send(vsockHdr({ op: VsockOp.CREDIT_UPDATE, bufAlloc: 1000, fwdCnt: 600 }));
  assert.equal(
    recv().reduce((n, p) => n + p.payload.length, 0),
    600,
  );
  // A guest that never reads: the host's bytes pile up to HOST_PENDING_LIMIT, then the host socket is paused.
  assert.equal(host.paused, false);
  host.guest!.data(new Uint8Array(HOST_PENDING_LIMIT));
  assert.equal(host.paused, true);
  send(vsockHdr({ op: VsockOp.CREDIT_UPDATE, bufAlloc: 1 << 20, fwdCnt: 1600 }));
  recv();
  post(64);
  recv();
  assert.equal(host.paused, false, "resumed once the guest took the bytes");
});

test("credit: a guest that sends beyond the host's buf_alloc is reset; fwd_cnt comes back as the host reads", () => {
  const { backend, post, recv, send } = rig();
  post(64);
  send(vsockHdr({ op: VsockOp.REQUEST }));
  recv();
  const host = backend.accepted[0]!;
  // The host program is not reading: everything written stays queued.
  const chunk = new Uint8Array(16 * 1024);
  for (let sent = 0; sent < BUF_ALLOC; sent += chunk.length) {
    send(vsockHdr({ op: VsockOp.RW }), chunk);
    host.queued += chunk.length;
  }
  assert.equal(recv().length, 0, "no credit update while nothing was forwarded");
  host.queued = 0;
  host.guest!.drained();
  const [upd] = recv();
  assert.deepEqual([upd!.h.op, upd!.h.fwdCnt], [VsockOp.CREDIT_UPDATE, BUF_ALLOC]);
  host.queued = BUF_ALLOC;
  for (let sent = 0; sent < BUF_ALLOC; sent += chunk.length) send(vsockHdr({ op: VsockOp.RW }), chunk);
  assert.equal(host.closed, false);
  send(vsockHdr({ op: VsockOp.RW }), bytes("x"));
  assert.equal(host.closed, true, "one byte beyond the credit");
  assert.deepEqual(
    recv().map((p) => p.h.op),
    [VsockOp.RST],
  );
});

test("malformed packets: wrong CIDs dropped, bad length, type or op answered RST, short headers dropped", () => {
  const { dev, drv, backend, post, recv, send } = rig();
  post(16);
  send(vsockHdr({ op: VsockOp.REQUEST, srcCid: 4n }));
  send(vsockHdr({ op: VsockOp.REQUEST, dstCid: 1n }));
  send(vsockHdr({ op: VsockOp.REQUEST, srcCid: BigInt(CID) + (1n << 32n) }));
  assert.equal(recv().length, 0, "forged CIDs get no answer");
  assert.equal(backend.accepted.length, 0);
  drv.request(1, [new Uint8Array(20)], []);
  assert.equal(recv().length, 0);
  send(vsockHdr({ op: VsockOp.RW, srcPort: 99 }), bytes("?"));
  send(vsockHdr({ op: VsockOp.REQUEST, type: 2 }));
  send(vsockHdr({ op: VsockOp.RST, srcPort: 98 }));
  assert.deepEqual(
    recv().map((p) => [p.h.op, p.h.dstPort]),
    [
      [VsockOp.RST, 99],
      [VsockOp.RST, 1234],
    ],
  );
  // On an open connection: a length beyond the buffer, then an unknown op.
  send(vsockHdr({ op: VsockOp.REQUEST, srcPort: 10 }));
  send(vsockHdr({ op: VsockOp.REQUEST, srcPort: 11 }));
  recv();
  const [a, b] = backend.accepted;
  drv.request(1, [vsockPacket(vsockHdr({ op: VsockOp.RW, srcPort: 10, len: 1000 }), bytes("short"))], []);
  send(vsockHdr({ op: 42, srcPort: 11 }));
  assert.deepEqual([a!.closed, b!.closed, a!.text], [true, true, ""]);
  assert.deepEqual(
    recv().map((p) => [p.h.op, p.h.dstPort]),
    [
      [VsockOp.RST, 10],
      [VsockOp.RST, 11],
    ],
  );
  assert.equal(dev.connections, 0);
  assert.ok(dev.rejected >= 7);
});

test("connections are capped; the device's reset and close release every host end", () => {
  const { dev, backend, post, recv, send, drv } = rig();
  for (let p = 0; p < MAX_CONNECTIONS; p++) send(vsockHdr({ op: VsockOp.REQUEST, srcPort: 10_000 + p }));
  assert.equal(dev.connections, MAX_CONNECTIONS);
  send(vsockHdr({ op: VsockOp.REQUEST, srcPort: 1 }));
  assert.equal(dev.connections, MAX_CONNECTIONS);
  assert.equal(backend.hostConnect(80).guest, undefined, "host connections are refused at the cap too");
  // Answers for a guest that posts no rx buffers are bounded as well.
  for (let p = 0; p < CONTROL_LIMIT; p++) send(vsockHdr({ op: VsockOp.RW, srcPort: 1, dstPort: p }), bytes("?"));
  post(8);
  assert.equal(recv().length, 8);
  drv.setReg(Reg.STATUS, 0);
  assert.equal(dev.connections, 0);
  assert.ok(backend.accepted.every((h) => h.closed));
  dev.close();
  assert.equal(backend.closed, true);
});

test("virtio-vsock survives 2000 randomized malformed descriptor tables", () => {
  const ops = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffff];
  const dev = new VirtioVsock({ guestCid: CID, backend: new FakeBackend(), queueSize: 16 });
  const request = (rng: Prng): Uint8Array =>
    vsockPacket(
      vsockHdr({
        op: rng.pick(ops),
        srcCid: rng.int(4) === 0 ? 7n : BigInt(CID),
        srcPort: rng.int(3),
        dstPort: rng.pick([5000, 1, 2]),
        len: rng.pick([0, 1, 16, 0xffffffff]),
        type: rng.pick([1, 1, 2]),
        flags: rng.int(4),
      }),
    );
  const r = fuzzDevice({ device: dev, queues: [1], request }, 0x50c_4e7, 2000);
  assert.ok(r.completed > 500, JSON.stringify(r));
  dev.close();
});
