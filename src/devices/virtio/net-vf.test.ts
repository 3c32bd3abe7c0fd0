/**
 * A VF's host-side settings on frames (net-vf.ts): spoof checking and trust, the port VLAN's tag
 * on the way out and its filter on the way in, a disabled link.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { VfPort } from "./net-vf.js";
import { NET_HDR_F_NEEDS_CSUM, NetGso, type NetOffload } from "./net-offload.js";

const VF = "56:54:00:00:00:01";
/** An Ethernet frame from `src` to broadcast with EtherType `type` and `n` payload bytes. */
function frame(src: string, type = 0x0800, n = 46): Uint8Array {
  const f = new Uint8Array(14 + n).fill(0xab);
  f.fill(0xff, 0, 6);
  f.set(
    src.split(":").map((p) => parseInt(p, 16)),
    6,
  );
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

test("spoofchk drops another source MAC unless the VF is trusted; off lets it through", () => {
  const p = new VfPort(VF);
  assert.equal(p.egress(frame(VF), undefined).length, 1);
  assert.equal(p.egress(frame("56:54:00:00:00:02"), undefined).length, 0);
  assert.equal(p.dropped, 1);
  p.settings.trust = true;
  assert.equal(p.egress(frame("56:54:00:00:00:02"), undefined).length, 1);
  p.settings.trust = false;
  p.settings.spoofchk = false;
  assert.equal(p.egress(frame("56:54:00:00:00:02"), undefined).length, 1);
  p.setMac("5a:54:00:00:00:09");
  p.settings.spoofchk = true;
  assert.equal(p.egress(frame(VF), undefined).length, 0, "the old MAC is now a spoof");
  assert.equal(p.egress(frame("5a:54:00:00:00:09"), undefined).length, 1);
});

test("vlan: frames leave tagged (802.1Q), only that VLAN's frames arrive, untagged; guest tags are dropped", () => {
  const p = new VfPort(VF);
  p.settings.vlan = 0x123;
  const f = frame(VF);
  const [out] = p.egress(f, undefined);
  assert.equal(out!.frame.length, f.length + 4);
  assert.deepEqual([...out!.frame.subarray(12, 18)], [0x81, 0x00, 0x01, 0x23, 0x08, 0x00]);
  assert.deepEqual(out!.frame.subarray(18), f.subarray(14));
  const back = p.ingress(out!.frame, undefined);
  assert.deepEqual(back?.frame, f, "the tag comes off on the way in");
  assert.equal(p.ingress(f, undefined), undefined, "untagged frames do not reach a VLAN port");
  const other = new VfPort(VF);
  other.settings.vlan = 7;
  assert.equal(other.ingress(out!.frame, undefined), undefined, "another VLAN's frame");
  assert.equal(p.egress(frame(VF, 0x8100), undefined).length, 0, "a frame the guest tagged itself");
  // An offloaded frame is finished (checksum filled) before it is tagged.
  const o: NetOffload = {
    flags: NET_HDR_F_NEEDS_CSUM,
    gsoType: NetGso.NONE,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 14,
    csumOffset: 6,
  };
  const outs = p.egress(frame(VF, 0x0800, 46), o);
  assert.equal(outs.length, 1);
  assert.equal(outs[0]!.offload, undefined);
});

test("state disable: nothing passes either way; enable and auto pass", () => {
  const p = new VfPort(VF);
  p.settings.state = "disable";
  assert.equal(p.linkUp, false);
  assert.equal(p.egress(frame(VF), undefined).length, 0);
  assert.equal(p.ingress(frame("52:54:00:00:00:01"), undefined), undefined);
  p.settings.state = "enable";
  assert.equal(p.egress(frame(VF), undefined).length, 1);
  p.settings.state = "auto";
  assert.ok(p.ingress(frame("52:54:00:00:00:01"), undefined));
});
