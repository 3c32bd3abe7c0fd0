// DHCP and ARP answered on a switch port, with a real virtio-net device and its queues between
// the "guest" (the mock driver) and the services.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BootOp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  DhcpServer,
  MsgType,
  Opt,
  encodeDhcp,
  parseDhcp,
  u32,
} from "./dhcp.js";
import { MemoryLeaseStore } from "./leases.js";
import { parseMac, type NetBackend } from "../devices/virtio/net.js";
import { ARP, ETH, buildUdp, formatIpv4, get16, parseIpv4, parseUdp } from "./packet.js";
import { SERVICES_MAC, ServicesBackend } from "./services.js";
import { nic } from "./testing/nic.js";

const subnet = { network: 0x0a000200, prefix: 24, router: 0x0a000202, leaseSeconds: 600 };
const MAC = "52:54:00:aa:bb:01";

function setup() {
  const toSwitch: Uint8Array[] = [];
  const inner: NetBackend = { send: (f) => toSwitch.push(f.slice()), onReceive: () => {} };
  const services = new ServicesBackend(
    inner,
    new DhcpServer(subnet, new MemoryLeaseStore({ first: 0x0a00020f, last: 0x0a000220 })),
  );
  return { toSwitch, services, guest: nic(services, MAC) };
}

function dhcpFrame(type: number, extra: [number, Uint8Array][] = []): Uint8Array {
  const payload = encodeDhcp({
    op: BootOp.REQUEST,
    xid: 0xc0ffee,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: parseMac(MAC),
    options: new Map([[Opt.MSG_TYPE, Uint8Array.of(type)], ...extra]),
  });
  return buildUdp({
    dstMac: Uint8Array.of(255, 255, 255, 255, 255, 255),
    srcMac: parseMac(MAC),
    srcIp: 0,
    dstIp: 0xffffffff,
    srcPort: DHCP_CLIENT_PORT,
    dstPort: DHCP_SERVER_PORT,
    payload,
  });
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

test("DHCP through the virtqueues: DISCOVER/OFFER, REQUEST/ACK; nothing reaches the switch", async () => {
  const { toSwitch, guest } = setup();
  guest.send(dhcpFrame(MsgType.DISCOVER));
  await tick();
  const [offerFrame] = guest.received();
  assert.ok(offerFrame, "an OFFER arrived in the guest's receive queue");
  assert.deepEqual(offerFrame.subarray(ETH.dst, ETH.dst + 6), parseMac(MAC));
  const u = parseUdp(offerFrame)!;
  assert.equal(u.srcPort, DHCP_SERVER_PORT);
  assert.equal(u.dstPort, DHCP_CLIENT_PORT);
  const offer = parseDhcp(u.payload)!;
  assert.equal(offer.options.get(Opt.MSG_TYPE)?.[0], MsgType.OFFER);
  assert.equal(offer.xid, 0xc0ffee);
  assert.equal(formatIpv4(offer.yiaddr), "10.0.2.15");
  guest.send(
    dhcpFrame(MsgType.REQUEST, [
      [Opt.REQUESTED_IP, u32(offer.yiaddr)],
      [Opt.SERVER_ID, u32(subnet.router)],
    ]),
  );
  await tick();
  const ack = parseDhcp(parseUdp(guest.received()[0]!)!.payload)!;
  assert.equal(ack.options.get(Opt.MSG_TYPE)?.[0], MsgType.ACK);
  assert.equal(ack.yiaddr, offer.yiaddr);
  assert.deepEqual(toSwitch, [], "DHCP stays on the port: other VMs' servers never hear it");
});

test("ARP for the server address is answered; other traffic goes to the switch", async () => {
  const { toSwitch, guest } = setup();
  const arp = new Uint8Array(ETH.size + ARP.size);
  arp.set([255, 255, 255, 255, 255, 255], 0);
  arp.set(parseMac(MAC), ETH.src);
  arp.set([0x08, 0x06], ETH.type);
  arp.set([0, 1, 0x08, 0x00, 6, 4, 0, 1], ETH.size);
  arp.set(parseMac(MAC), ETH.size + ARP.sha);
  arp.set([10, 0, 2, 15], ETH.size + ARP.spa);
  arp.set([10, 0, 2, 2], ETH.size + ARP.tpa);
  guest.send(arp);
  await tick();
  const [reply] = guest.received();
  assert.ok(reply);
  assert.equal(get16(reply, ETH.size + ARP.op), 2);
  assert.deepEqual(reply.subarray(ETH.size + ARP.sha, ETH.size + ARP.sha + 6), SERVICES_MAC);
  assert.deepEqual([...reply.subarray(ETH.size + ARP.spa, ETH.size + ARP.spa + 4)], [10, 0, 2, 2]);
  assert.deepEqual([...reply.subarray(ETH.size + ARP.tpa, ETH.size + ARP.tpa + 4)], [10, 0, 2, 15]);
  // ARP for another VM is the switch's business.
  arp.set([10, 0, 2, 16], ETH.size + ARP.tpa);
  guest.send(arp);
  assert.equal(toSwitch.length, 1);
  assert.equal(parseIpv4("10.0.2.16"), 0x0a000210);
});
