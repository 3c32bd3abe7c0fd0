import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BootOp, DhcpServer, MsgType, Opt, encodeDhcp, parseDhcp, u32, type DhcpMessage } from "./dhcp.js";
import { FileLeaseStore, MemoryLeaseStore } from "./leases.js";
import { formatIpv4 } from "./packet.js";

const subnet = { network: 0x0a000200, prefix: 24, router: 0x0a000202, leaseSeconds: 3600 };
const pool = { first: 0x0a00020f, last: 0x0a000211 }; // three addresses: .15 .16 .17

function client(mac: number, type: number, extra: [number, Uint8Array][] = []): DhcpMessage {
  return {
    op: BootOp.REQUEST,
    xid: 0x1234 + mac,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: Uint8Array.of(0x52, 0x54, 0, 0, 0, mac),
    options: new Map([[Opt.MSG_TYPE, Uint8Array.of(type)], ...extra]),
  };
}

test("a message encodes to RFC 2131's layout and parses back", () => {
  const m = client(1, MsgType.DISCOVER, [[Opt.HOSTNAME, new TextEncoder().encode("vm")]]);
  const bytes = encodeDhcp(m);
  assert.equal(bytes.length, 300);
  assert.deepEqual([...bytes.subarray(236, 240)], [0x63, 0x82, 0x53, 0x63]);
  assert.deepEqual([...bytes.subarray(240, 243)], [53, 1, 1]);
  const back = parseDhcp(bytes)!;
  assert.equal(back.xid, m.xid);
  assert.deepEqual(back.chaddr, m.chaddr);
  assert.equal(back.options.get(Opt.MSG_TYPE)?.[0], MsgType.DISCOVER);
  // An option running past the end is malformed.
  const bad = bytes.slice(0, 243);
  bad[241] = 9;
  assert.equal(parseDhcp(bad), undefined);
});

test("DISCOVER, OFFER, REQUEST, ACK; a REQUEST for someone else's address is NAKed", () => {
  const s = new DhcpServer(subnet, new MemoryLeaseStore(pool));
  const offer = s.handle(client(1, MsgType.DISCOVER))!;
  assert.equal(offer.type, "offer");
  assert.equal(formatIpv4(offer.message.yiaddr), "10.0.2.15");
  const o = offer.message.options;
  assert.deepEqual(o.get(Opt.SERVER_ID), u32(subnet.router));
  assert.deepEqual(o.get(Opt.SUBNET_MASK), u32(0xffffff00));
  assert.deepEqual(o.get(Opt.ROUTER), u32(subnet.router));
  assert.deepEqual(o.get(Opt.LEASE_TIME), u32(3600));
  const ack = s.handle(
    client(1, MsgType.REQUEST, [
      [Opt.REQUESTED_IP, u32(offer.message.yiaddr)],
      [Opt.SERVER_ID, u32(subnet.router)],
    ]),
  )!;
  assert.equal(ack.type, "ack");
  assert.equal(ack.message.yiaddr, offer.message.yiaddr);
  assert.equal(ack.message.xid, client(1, 0).xid);
  // A second client gets the next address and cannot claim the first one's.
  assert.equal(formatIpv4(s.handle(client(2, MsgType.DISCOVER))!.message.yiaddr), "10.0.2.16");
  assert.equal(s.handle(client(2, MsgType.REQUEST, [[Opt.REQUESTED_IP, u32(0x0a00020f)]]))!.type, "nak");
  // A REQUEST naming another server is not for us (RFC 2131 §4.3.2).
  assert.equal(s.handle(client(1, MsgType.REQUEST, [[Opt.SERVER_ID, u32(0x0a000299)]])), undefined);
  // The same client asking again keeps its address.
  assert.equal(formatIpv4(s.handle(client(1, MsgType.DISCOVER))!.message.yiaddr), "10.0.2.15");
});

test("an exhausted pool offers nothing; a RELEASE frees an address", () => {
  const s = new DhcpServer(subnet, new MemoryLeaseStore(pool));
  for (let i = 1; i <= 3; i++) assert.ok(s.handle(client(i, MsgType.DISCOVER)));
  assert.equal(s.handle(client(4, MsgType.DISCOVER)), undefined);
  s.handle(client(2, MsgType.RELEASE));
  assert.equal(formatIpv4(s.handle(client(4, MsgType.DISCOVER))!.message.yiaddr), "10.0.2.16");
});

test("file leases are shared between stores (processes) and reclaimed from dead processes", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-leases-"));
  try {
    const path = join(dir, "leases.json");
    // A lease taken by a process that has since exited.
    const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
    const a = new FileLeaseStore(path, pool, dead);
    const b = new FileLeaseStore(path, pool);
    const c = new FileLeaseStore(path, pool);
    assert.equal(a.allocate("52:54:00:00:00:0a"), 0x0a00020f);
    assert.equal(b.allocate("52:54:00:00:00:0b"), 0x0a000210, "b sees a's lease");
    assert.equal(c.lookup("52:54:00:00:00:0b"), 0x0a000210);
    assert.equal(c.allocate("52:54:00:00:00:0c"), 0x0a000211);
    // Pool full: the dead process's address goes to a newcomer, never a live one's.
    assert.equal(c.allocate("52:54:00:00:00:0d"), 0x0a00020f);
    assert.equal(b.allocate("52:54:00:00:00:0e"), undefined);
    b.release("52:54:00:00:00:0b");
    assert.equal(c.lookup("52:54:00:00:00:0b"), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a guest gets leases only for its own NIC's MAC: no pool exhaustion, no RELEASE of another VM's address", () => {
  // Two VMs on one switch: each process has its own server over the shared store.
  const store = new MemoryLeaseStore(pool);
  const vmA = new DhcpServer(subnet, store, "52:54:00:00:00:01");
  const vmB = new DhcpServer(subnet, store, "52:54:00:00:00:02");
  const a = vmA.handle(client(1, MsgType.DISCOVER))!;
  assert.equal(formatIpv4(a.message.yiaddr), "10.0.2.15");
  // Guest B makes up client MACs: A's, and a flood of new ones.
  assert.equal(vmB.handle(client(1, MsgType.RELEASE)), undefined);
  assert.equal(vmB.handle(client(1, MsgType.REQUEST, [[Opt.REQUESTED_IP, u32(a.message.yiaddr)]])), undefined);
  for (let m = 3; m < 40; m++) assert.equal(vmB.handle(client(m, MsgType.DISCOVER)), undefined);
  assert.equal(store.leases.length, 1, "only A's lease");
  assert.equal(store.lookup("52:54:00:00:00:01"), a.message.yiaddr, "A keeps its address");
  assert.equal(
    formatIpv4(vmB.handle(client(2, MsgType.DISCOVER))!.message.yiaddr),
    "10.0.2.16",
    "B's own NIC is served",
  );
});
