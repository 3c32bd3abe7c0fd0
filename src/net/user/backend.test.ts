// User-mode networking at the frame level: a synthetic guest's frames in, the backend's frames
// out, real host sockets on loopback behind it. The end-to-end tests with a real guest are in
// tests/net/user.test.ts.
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { test } from "node:test";
import { parseMac } from "../../devices/virtio/net.js";
import { BootOp, MsgType, Opt, encodeDhcp, parseDhcp } from "../dhcp.js";
import {
  ARP,
  ArpOp,
  ETH,
  EtherType,
  ICMP,
  IPV4,
  IpProto,
  TCP,
  TcpFlag,
  buildUdp,
  formatIpv4,
  get32,
  inetChecksum,
  parseUdp,
  set16,
  set32,
} from "../packet.js";
import { USER_IP_PARAM } from "../../devices/kinds/net.js";
import { MAX_TCP, UserNet } from "./backend.js";
import { USER_DNS, USER_GATEWAY, USER_GUEST, parsePortForward } from "./config.js";
import { parseIpv4Packet, parseTcp, type TcpSegment } from "./frames.js";

const MAC = "52:54:00:aa:bb:cc";
const GMAC = parseMac(MAC);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function open(hostLoopback: boolean): Promise<{ net: UserNet; frames: Uint8Array[] }> {
  const net = await UserNet.open({ hostLoopback, forwards: [] }, MAC);
  const frames: Uint8Array[] = [];
  net.onReceive((f) => frames.push(f.slice()));
  return { net, frames };
}

function ipFrame(proto: number, dst: number, l4: Uint8Array, src = USER_GUEST): Uint8Array {
  const f = new Uint8Array(ETH.size + IPV4.size + l4.length);
  f.set(GMAC, ETH.src);
  set16(f, ETH.type, EtherType.IPV4);
  const ip = ETH.size;
  f[ip + IPV4.verIhl] = 0x45;
  set16(f, ip + IPV4.totalLen, IPV4.size + l4.length);
  f[ip + IPV4.ttl] = 64;
  f[ip + IPV4.proto] = proto;
  set32(f, ip + IPV4.src, src);
  set32(f, ip + IPV4.dst, dst);
  f.set(l4, ip + IPV4.size);
  return f;
}

function tcpFrame(
  dst: number,
  s: { srcPort: number; dstPort: number; seq: number; ack?: number; flags: number; payload?: Uint8Array },
): Uint8Array {
  const t = new Uint8Array(TCP.size + (s.payload?.length ?? 0));
  set16(t, TCP.srcPort, s.srcPort);
  set16(t, TCP.dstPort, s.dstPort);
  set32(t, TCP.seq, s.seq);
  set32(t, TCP.ack, s.ack ?? 0);
  t[TCP.dataOff] = 5 << 4;
  t[TCP.flags] = s.flags;
  set16(t, TCP.window, 65535);
  if (s.payload) t.set(s.payload, TCP.size);
  return ipFrame(IpProto.TCP, dst, t);
}

function tcpOut(frames: Uint8Array[]): TcpSegment[] {
  return frames.flatMap((f) => {
    const p = parseIpv4Packet(f);
    const s = p && p.proto === IpProto.TCP ? parseTcp(f, p) : undefined;
    return s ? [s] : [];
  });
}

async function until<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await sleep(10);
  }
  throw new Error(`no ${what}`);
}

test("ARP for the gateway and DNS addresses, DHCP with router and DNS server, echo to the gateway", async () => {
  const { net, frames } = await open(false);
  try {
    for (const ip of [USER_GATEWAY, USER_DNS]) {
      const a = new Uint8Array(ETH.size + ARP.size);
      a.fill(0xff, 0, 6);
      a.set(GMAC, ETH.src);
      set16(a, ETH.type, EtherType.ARP);
      set16(a, ETH.size + ARP.htype, 1);
      set16(a, ETH.size + ARP.ptype, 0x0800);
      a[ETH.size + ARP.hlen] = 6;
      a[ETH.size + ARP.plen] = 4;
      set16(a, ETH.size + ARP.op, ArpOp.REQUEST);
      a.set(GMAC, ETH.size + ARP.sha);
      set32(a, ETH.size + ARP.tpa, ip);
      net.send(a);
    }
    const dhcp = encodeDhcp({
      op: BootOp.REQUEST,
      xid: 7,
      flags: 0,
      ciaddr: 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: 0,
      chaddr: GMAC,
      options: new Map([[Opt.MSG_TYPE, Uint8Array.of(MsgType.DISCOVER)]]),
    });
    net.send(
      buildUdp({
        dstMac: Uint8Array.of(255, 255, 255, 255, 255, 255),
        srcMac: GMAC,
        srcIp: 0,
        dstIp: 0xffffffff,
        srcPort: 68,
        dstPort: 67,
        payload: dhcp,
      }),
    );
    const echo = new Uint8Array(ICMP.size + 4);
    echo[ICMP.type] = 8;
    echo.set([1, 2, 3, 4], ICMP.size);
    set16(echo, ICMP.csum, inetChecksum(echo, 0, echo.length));
    net.send(ipFrame(IpProto.ICMP, USER_GATEWAY, echo));
    await sleep(10);
    assert.equal(frames.length, 4);
    assert.equal(get32(frames[0]!, ETH.size + ARP.spa), USER_GATEWAY);
    assert.equal(get32(frames[1]!, ETH.size + ARP.spa), USER_DNS);
    const offer = parseDhcp(parseUdp(frames[2]!)!.payload)!;
    assert.equal(offer.yiaddr, USER_GUEST);
    assert.equal(get32(offer.options.get(Opt.ROUTER)!, 0), USER_GATEWAY);
    assert.equal(get32(offer.options.get(Opt.DNS)!, 0), USER_DNS);
    const reply = frames[3]!;
    const i = ETH.size + IPV4.size;
    assert.equal(reply[i + ICMP.type], 0);
    assert.deepEqual([...reply.subarray(i + ICMP.size)], [1, 2, 3, 4]);
    assert.equal(inetChecksum(reply, i, reply.length), 0, "a valid ICMP checksum");
  } finally {
    net.close();
  }
});

test("the host's loopback is refused (RST): 127.0.0.0/8 always, the gateway without host-loopback", async () => {
  const server = createServer((s) => s.end("hi"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  let accepted = 0;
  server.on("connection", () => accepted++);
  for (const [loop, dst] of [
    [false, USER_GATEWAY],
    [true, 0x7f000001],
    [true, 0x7f000002],
    [false, 0],
  ] as const) {
    const { net, frames } = await open(loop);
    net.send(tcpFrame(dst, { srcPort: 40000, dstPort: port, seq: 1000, flags: TcpFlag.SYN }));
    await sleep(20);
    const [rst] = tcpOut(frames);
    assert.ok(rst && rst.flags & TcpFlag.RST, `a RST for ${dst.toString(16)}`);
    assert.equal(rst.ack, 1001);
    net.close();
  }
  assert.equal(accepted, 0, "nothing reached the host's loopback");
  server.close();
});

test("TCP through the gateway with host-loopback: handshake, data both ways, FIN both ways", async () => {
  let hostSide: Socket | undefined;
  let got = "";
  const server = createServer({ allowHalfOpen: true }, (s) => {
    hostSide = s;
    s.on("data", (b: Buffer) => (got += b.toString()));
    s.on("end", () => s.end("bye from host"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const { net, frames } = await open(true);
  try {
    const g = { srcPort: 40001, dstPort: port };
    net.send(tcpFrame(USER_GATEWAY, { ...g, seq: 100, flags: TcpFlag.SYN }));
    const synAck = await until(() => tcpOut(frames).find((s) => s.flags & TcpFlag.SYN), "SYN-ACK");
    assert.equal(synAck.flags, TcpFlag.SYN | TcpFlag.ACK);
    assert.equal(synAck.ack, 101);
    let ours = synAck.seq + 1;
    net.send(tcpFrame(USER_GATEWAY, { ...g, seq: 101, ack: ours, flags: TcpFlag.ACK }));
    net.send(
      tcpFrame(USER_GATEWAY, {
        ...g,
        seq: 101,
        ack: ours,
        flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN,
        payload: new TextEncoder().encode("hello host"),
      }),
    );
    await until(() => (got === "hello host" ? true : undefined), "the guest's data on the host");
    assert.ok(hostSide);
    // The host answers and closes: data, then our FIN.
    const data = await until(() => {
      const segs = tcpOut(frames).filter((s) => s.payload.length > 0 || s.flags & TcpFlag.FIN);
      return segs.some((s) => s.flags & TcpFlag.FIN) ? segs : undefined;
    }, "the host's data and FIN");
    const text = data.map((s) => new TextDecoder().decode(s.payload)).join("");
    assert.equal(text, "bye from host");
    const fin = data.find((s) => s.flags & TcpFlag.FIN)!;
    assert.equal(fin.ack, 101 + 10 + 1, "the guest's data and FIN acknowledged");
    ours = fin.seq + fin.payload.length + 1;
    net.send(tcpFrame(USER_GATEWAY, { ...g, seq: 112, ack: ours, flags: TcpFlag.ACK }));
    await sleep(20);
    assert.equal(net.counts().tcp, 0, "the connection is over");
  } finally {
    net.close();
    server.close();
  }
});

test("a SYN flood stays bounded (the oldest connections reset), and close() ends every host socket", async () => {
  const open_ = new Set<Socket>();
  const server = createServer((s) => {
    open_.add(s);
    s.on("close", () => open_.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const { net, frames } = await open(true);
  for (let i = 0; i < MAX_TCP + 200; i++)
    net.send(tcpFrame(USER_GATEWAY, { srcPort: 10000 + i, dstPort: port, seq: i, flags: TcpFlag.SYN }));
  assert.equal(net.counts().tcp, MAX_TCP);
  assert.equal(net.stats.tcpEvicted, 200);
  await until(() => (open_.size > 0 ? true : undefined), "host connections");
  const rsts = tcpOut(frames).filter((s) => s.flags & TcpFlag.RST);
  assert.equal(rsts.length, 200, "each evicted connection was reset towards the guest");
  net.close();
  await until(() => (open_.size === 0 ? true : undefined), "every host socket closed");
  server.close();
});

test("garbage frames: nothing thrown, nothing opened, the backend still answers", async () => {
  const { net, frames } = await open(true);
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const valid = tcpFrame(USER_GATEWAY, { srcPort: 1, dstPort: 9, seq: 0, flags: TcpFlag.SYN });
  try {
    for (let i = 0; i < 20000; i++) {
      let f: Uint8Array;
      if (i % 2 === 0) {
        f = new Uint8Array(Math.floor(rnd() * 200));
        for (let k = 0; k < f.length; k++) f[k] = rnd() * 256;
        if (f.length > 14 && rnd() < 0.7) set16(f, ETH.type, rnd() < 0.5 ? EtherType.IPV4 : EtherType.ARP);
        if (f.length > 24 && rnd() < 0.5) f[ETH.size] = 0x45;
      } else {
        f = valid.slice(0, Math.max(0, Math.floor(rnd() * (valid.length + 1))));
        for (let k = 0; k < 3 && f.length > 0; k++) f[Math.floor(rnd() * f.length)] = rnd() * 256;
        // Never a real SYN to a port that might be open: port 9 (discard) stays, or it is garbage.
      }
      net.send(f);
    }
    await sleep(50);
    frames.length = 0;
    const echo = new Uint8Array(ICMP.size);
    echo[ICMP.type] = 8;
    net.send(ipFrame(IpProto.ICMP, USER_GATEWAY, echo));
    await sleep(10);
    assert.equal(frames.length, 1, "the gateway still answers");
  } finally {
    net.close();
  }
  assert.equal(net.counts().tcp, 0);
  assert.equal(net.counts().udp, 0);
});

test("a taken host port fails open() with one line and leaves nothing listening", async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as AddressInfo).port;
  const free = createServer();
  await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
  const freePort = (free.address() as AddressInfo).port;
  await new Promise((r) => free.close(r));
  await assert.rejects(
    UserNet.open(
      { hostLoopback: false, forwards: [parsePortForward(`${freePort}:80`), parsePortForward(`${port}:81`)] },
      MAC,
    ),
    (e: Error & { code?: string }) =>
      e.code === "PORT_IN_USE" &&
      e.message ===
        `-p 127.0.0.1:${port}:81/tcp: host port ${port} on 127.0.0.1 is already in use: choose another host port`,
  );
  // The first forward, opened before the failure, was closed again.
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once("error", reject);
    again.listen(freePort, "127.0.0.1", resolve);
  });
  again.close();
  taken.close();
});

test("-p syntax: [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]", () => {
  assert.deepEqual(parsePortForward("8080:80"), { proto: "tcp", hostIp: "127.0.0.1", hostPort: 8080, guestPort: 80 });
  assert.deepEqual(parsePortForward("0.0.0.0:53:5353/udp"), {
    proto: "udp",
    hostIp: "0.0.0.0",
    hostPort: 53,
    guestPort: 5353,
  });
  for (const bad of ["80", "8080:0", "x:80", "1.2.3:80:80", "80:80/sctp", "70000:80", "a:b:c:d"])
    assert.throws(() => parsePortForward(bad), { code: "BAD_PORT_FORWARD" }, bad);
});

test("the ip= a user-mode NIC gives /init names the addresses its DHCP server hands out", () => {
  const [client, , gw, mask, , dev, auto, dns] = USER_IP_PARAM.slice(3).split(":");
  assert.deepEqual(
    [client, gw, mask, dev, auto, dns],
    [formatIpv4(USER_GUEST), formatIpv4(USER_GATEWAY), "255.255.255.0", "eth0", "off", formatIpv4(USER_DNS)],
  );
});
