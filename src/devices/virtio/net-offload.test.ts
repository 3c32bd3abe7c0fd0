import { test } from "node:test";
import assert from "node:assert/strict";
import {
  completeFrames,
  decodeOffload,
  encodeOffload,
  finishChecksum,
  NetGso,
  NET_HDR_F_NEEDS_CSUM,
  offloadValid,
  OFFLOAD_WIRE,
  segmentTcp,
  type NetOffload,
} from "./net-offload.js";

// An independent reference: RFC 1071's sum, word by word with BigInt, folded at the end.
function rfc1071(bytes: Uint8Array): number {
  let s = 0n;
  for (let i = 0; i < bytes.length; i += 2) s += BigInt((bytes[i]! << 8) | (bytes[i + 1] ?? 0));
  while (s > 0xffffn) s = (s & 0xffffn) + (s >> 16n);
  return Number(s);
}
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const be16 = (v: number): Uint8Array => Uint8Array.of(v >>> 8, v & 0xff);
const be32 = (v: number): Uint8Array => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);

const SRC4 = Uint8Array.of(10, 0, 2, 15);
const DST4 = Uint8Array.of(10, 0, 2, 16);
const SRC6 = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i));
const DST6 = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : 0x40 + i));

/** A TCP frame as Linux hands it to a TSO device: checksum field holding the pseudo-header sum only. */
function gsoFrame(
  v6: boolean,
  payload: Uint8Array,
  flags: number,
  seq: number,
): { frame: Uint8Array; off: NetOffload } {
  const eth = cat(new Uint8Array(12).fill(0x52), be16(v6 ? 0x86dd : 0x0800));
  const tcp = cat(
    be16(40000),
    be16(5000),
    be32(seq),
    be32(7),
    Uint8Array.of(0x50, flags),
    be16(64240),
    be16(0),
    be16(0),
  );
  const tcpLen = tcp.length + payload.length;
  const ip = v6
    ? cat(Uint8Array.of(0x60, 0, 0, 0), be16(tcpLen), Uint8Array.of(6, 64), SRC6, DST6)
    : cat(
        Uint8Array.of(0x45, 0),
        be16(20 + tcpLen),
        be16(0x1234),
        be16(0x4000),
        Uint8Array.of(64, 6),
        be16(0),
        SRC4,
        DST4,
      );
  const pseudo = v6
    ? cat(SRC6, DST6, be32(tcpLen), Uint8Array.of(0, 0, 0, 6))
    : cat(SRC4, DST4, Uint8Array.of(0, 6), be16(tcpLen));
  if (!v6) {
    const c = ~rfc1071(ip) & 0xffff; // the IP header checksum is always the driver's own work
    ip[10] = c >>> 8;
    ip[11] = c & 0xff;
  }
  const frame = cat(eth, ip, tcp, payload);
  const at = 14 + ip.length + 16;
  const p = rfc1071(pseudo);
  frame[at] = p >>> 8;
  frame[at + 1] = p & 0xff;
  return {
    frame,
    off: {
      flags: NET_HDR_F_NEEDS_CSUM,
      gsoType: v6 ? NetGso.TCPV6 : NetGso.TCPV4,
      hdrLen: 14 + ip.length + 20,
      gsoSize: 1448,
      csumStart: 14 + ip.length,
      csumOffset: 16,
    },
  };
}

/** Check one segment with the reference sum: IPv4 header and TCP checksums verify. */
function verify(seg: Uint8Array, v6: boolean): { seq: number; flags: number; payload: Uint8Array; id: number } {
  const ipLen = v6 ? 40 : 20;
  const tcp = 14 + ipLen;
  const tcpLen = seg.length - tcp;
  const dv = new DataView(seg.buffer, seg.byteOffset);
  if (!v6) {
    assert.equal(rfc1071(seg.subarray(14, tcp)), 0xffff, "IPv4 header checksum");
    assert.equal(dv.getUint16(16), seg.length - 14, "IPv4 total length");
  } else assert.equal(dv.getUint16(18), tcpLen, "IPv6 payload length");
  const pseudo = v6
    ? cat(seg.subarray(22, 54), be32(tcpLen), Uint8Array.of(0, 0, 0, 6))
    : cat(seg.subarray(26, 34), Uint8Array.of(0, 6), be16(tcpLen));
  assert.equal(rfc1071(cat(pseudo, seg.subarray(tcp))), 0xffff, "TCP checksum");
  return {
    seq: dv.getUint32(tcp + 4),
    flags: seg[tcp + 13]!,
    payload: seg.subarray(tcp + 20),
    id: v6 ? 0 : dv.getUint16(18),
  };
}

for (const v6 of [false, true]) {
  test(`TSO over IPv${v6 ? 6 : 4}: MSS-sized segments with valid checksums, sequence numbers and flags`, () => {
    const payload = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 0xff);
    const seq = 0xfffff000; // wraps inside the burst
    const { frame, off } = gsoFrame(v6, payload, 0x80 | 0x18 | 0x01, seq); // CWR, PSH+ACK, FIN
    const segs = segmentTcp(frame, off).map((s) => verify(s, v6));
    assert.equal(segs.length, Math.ceil(10_000 / 1448));
    assert.deepEqual(cat(...segs.map((s) => s.payload)), payload);
    segs.forEach((s, k) => {
      assert.equal(s.seq, (seq + k * 1448) >>> 0);
      const last = k === segs.length - 1;
      assert.equal(s.flags & 0x01, last ? 1 : 0, "FIN only on the last");
      assert.equal(s.flags & 0x08, last ? 8 : 0, "PSH only on the last");
      assert.equal(s.flags & 0x80, k === 0 ? 0x80 : 0, "CWR only on the first");
      if (!v6) assert.equal(s.id, 0x1234 + k);
    });
  });
}

test("a checksum left to do is finished as RFC 1071 says; other frames pass through complete", () => {
  const { frame, off } = gsoFrame(false, new TextEncoder().encode("one small segment"), 0x18, 1);
  const [f] = completeFrames(frame, { ...off, gsoType: NetGso.NONE });
  verify(f!, false);
  assert.notEqual(f, frame, "the sender's frame is left as it was");
  const g = frame.slice();
  finishChecksum(g, off.csumStart, off.csumOffset);
  assert.deepEqual(g, f);
});

test("offload headers: wire layout round trip, and what is refused", () => {
  assert.equal(OFFLOAD_WIRE.size, 10);
  const o: NetOffload = { flags: 1, gsoType: NetGso.TCPV6, hdrLen: 74, gsoSize: 1428, csumStart: 54, csumOffset: 16 };
  const b = new Uint8Array(12);
  encodeOffload(o, b, 2);
  assert.deepEqual(decodeOffload(b, 2), o);
  assert.deepEqual([...b.subarray(2)], [1, 4, 74, 0, 0x94, 0x05, 54, 0, 16, 0]);
  encodeOffload(undefined, b, 2);
  assert.equal(decodeOffload(b, 2), undefined);
  assert.ok(offloadValid(o, 2000));
  assert.ok(!offloadValid({ ...o, csumStart: 1990 }, 2000), "checksum field past the end");
  assert.ok(!offloadValid({ ...o, flags: 0 }, 2000), "GSO without a checksum to do");
  assert.ok(!offloadValid({ ...o, gsoSize: 0 }, 2000), "MSS 0");
  assert.ok(!offloadValid({ ...o, gsoType: NetGso.UDP }, 2000), "UDP fragmentation is not offered");
  assert.ok(!offloadValid({ ...o, gsoType: NetGso.TCPV4 | NetGso.ECN }, 2000), "ECN is not offered");
  assert.ok(!offloadValid({ ...o, flags: 4 }, 2000), "unknown flag");
  assert.deepEqual(segmentTcp(new Uint8Array(30), o), [], "headers that do not parse give nothing");
});
