/**
 * What the host sets on one SR-IOV virtual function, as `ip link set DEV vf N ...` does on real
 * hardware (Linux's ndo_set_vf_* operations): its MAC, a port VLAN, spoof checking, trust and the
 * link state. The rate limit is the NIC's own rate limiter (rate-limit.ts). This file decides what
 * happens to each frame between the VF and the switch; net.ts applies it.
 *
 * - vlan V (802.1Q, VST mode): frames from the VF leave tagged V; only frames tagged V reach it,
 *   untagged. A frame the guest tagged itself is dropped (it could otherwise leave the VLAN).
 * - spoofchk on (the default, as NICs have it): a frame whose source MAC is not the VF's is
 *   dropped, unless the VF is trusted.
 * - trust on: the VF may send from any MAC (a guest that changes its address, a bridge inside).
 * - state disable: link down (the guest sees no carrier) and nothing passes; auto and enable:
 *   up (the PF's link, which is always up, is what auto follows).
 */
import { completeFrames, type NetOffload } from "./net-offload.js";

export type VfLinkState = "auto" | "enable" | "disable";

export interface VfSettings {
  mac: string;
  /** 0: no port VLAN. */
  vlan: number;
  spoofchk: boolean;
  trust: boolean;
  state: VfLinkState;
}

/** 802.1Q (IEEE 802.1Q §9.6): TPID 0x8100, then the TCI whose low 12 bits are the VLAN ID. */
const TPID = 0x8100;
const ETH_TYPE = 12;
const TAG = 4;

export type FrameOut = { frame: Uint8Array; offload: NetOffload | undefined };

export class VfPort {
  readonly settings: VfSettings;
  private mac: Uint8Array;
  /** Frames dropped by spoof checking, VLAN filtering or a disabled link. */
  dropped = 0;

  constructor(mac: string) {
    this.settings = { mac, vlan: 0, spoofchk: true, trust: false, state: "auto" };
    this.mac = macBytes(mac);
  }

  get linkUp(): boolean {
    return this.settings.state !== "disable";
  }

  setMac(mac: string): void {
    this.settings.mac = mac;
    this.mac = macBytes(mac);
  }

  /** A frame the guest sent through the VF: what goes to the switch (none, one or, tagged after offloads are finished, several). */
  egress(frame: Uint8Array, offload: NetOffload | undefined): FrameOut[] {
    const s = this.settings;
    if (!this.linkUp || (s.spoofchk && !s.trust && !sameMac(frame, 6, this.mac))) {
      this.dropped++;
      return [];
    }
    if (s.vlan === 0) return [{ frame, offload }];
    if (tagged(frame)) {
      this.dropped++;
      return [];
    }
    // A tag moves every header after the MACs: finish checksums and segments first, then tag.
    const whole = offload ? completeFrames(frame, offload) : [frame];
    return whole.map((f) => ({ frame: addTag(f, s.vlan), offload: undefined }));
  }

  /** A frame from the switch for the VF: what the guest receives, or undefined when it may not. */
  ingress(frame: Uint8Array, offload: NetOffload | undefined): FrameOut | undefined {
    const vlan = this.settings.vlan;
    if (!this.linkUp) {
      this.dropped++;
      return undefined;
    }
    if (vlan === 0) return { frame, offload };
    if (!tagged(frame) || (((frame[14]! << 8) | frame[15]!) & 0xfff) !== vlan || offload) {
      this.dropped++;
      return undefined;
    }
    const out = new Uint8Array(frame.length - TAG);
    out.set(frame.subarray(0, ETH_TYPE));
    out.set(frame.subarray(ETH_TYPE + TAG), ETH_TYPE);
    return { frame: out, offload: undefined };
  }
}

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((p) => parseInt(p, 16)));
}

function sameMac(frame: Uint8Array, at: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (frame[at + i] !== mac[i]) return false;
  return true;
}

function tagged(frame: Uint8Array): boolean {
  return frame.length >= ETH_TYPE + TAG + 2 && ((frame[ETH_TYPE]! << 8) | frame[ETH_TYPE + 1]!) === TPID;
}

function addTag(frame: Uint8Array, vlan: number): Uint8Array {
  const out = new Uint8Array(frame.length + TAG);
  out.set(frame.subarray(0, ETH_TYPE));
  out[ETH_TYPE] = TPID >> 8;
  out[ETH_TYPE + 1] = TPID & 0xff;
  out[ETH_TYPE + 2] = (vlan >> 8) & 0x0f;
  out[ETH_TYPE + 3] = vlan & 0xff;
  out.set(frame.subarray(ETH_TYPE), ETH_TYPE + TAG);
  return out;
}
