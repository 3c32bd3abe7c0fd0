import { test } from "node:test";
import assert from "node:assert/strict";
import { ARP, ETH, IPV4, UDP, buildUdp, formatIpv4, inetChecksum, parseIpv4, parseUdp } from "./packet.js";
import { DHCP } from "./dhcp.js";

test("header layouts: sizes and offsets from the RFCs", () => {
  assert.equal(ETH.size, 14);
  assert.equal(ETH.type, 12);
  assert.equal(ARP.size, 28); // RFC 826 for Ethernet/IPv4: 8 + 2 * (6 + 4)
  assert.equal(ARP.tpa + 4, ARP.size);
  assert.equal(IPV4.size, 20);
  assert.equal(IPV4.dst + 4, IPV4.size);
  assert.equal(UDP.size, 8);
  // RFC 2131 Figure 1: 236 fixed bytes, then the 4-byte magic cookie.
  assert.equal(DHCP.chaddr, 28);
  assert.equal(DHCP.sname, DHCP.chaddr + 16);
  assert.equal(DHCP.file, DHCP.sname + 64);
  assert.equal(DHCP.magic, DHCP.file + 128);
  assert.equal(DHCP.options, 240);
});

test("Internet checksum: RFC 1071's worked example and a real IPv4 header", () => {
  // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is its complement.
  assert.equal(inetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0, 8), ~0xddf2 & 0xffff);
  // An IPv4 header as captured on a wire (checksum b861 in place): verifying it gives 0.
  const hdr = Uint8Array.from(Buffer.from("450000730000400040110000c0a80001c0a800c7", "hex"));
  hdr[10] = 0xb8;
  hdr[11] = 0x61;
  assert.equal(inetChecksum(hdr, 0, 20), 0);
});

test("UDP frames built here parse back, with valid IP and UDP checksums", () => {
  const payload = new TextEncoder().encode("hello, odd length");
  const f = buildUdp({
    dstMac: Uint8Array.of(1, 2, 3, 4, 5, 6),
    srcMac: Uint8Array.of(0x52, 0x54, 0, 0, 0, 1),
    srcIp: parseIpv4("10.0.2.2")!,
    dstIp: 0xffffffff,
    srcPort: 67,
    dstPort: 68,
    payload,
  });
  assert.equal(inetChecksum(f, ETH.size, ETH.size + IPV4.size), 0);
  const u = parseUdp(f)!;
  assert.equal(formatIpv4(u.srcIp), "10.0.2.2");
  assert.equal(u.dstPort, 68);
  assert.deepEqual(u.payload, payload);
  // Truncated or non-UDP frames are not UDP.
  assert.equal(parseUdp(f.subarray(0, 40)), undefined);
  const tcp = f.slice();
  tcp[ETH.size + IPV4.proto] = 6;
  assert.equal(parseUdp(tcp), undefined);
  assert.equal(parseIpv4("10.0.2.256"), undefined);
  assert.equal(parseIpv4("1.2.3"), undefined);
});
