/**
 * `corral vf NAME list|set VF SETTINGS`: the SR-IOV virtual functions of a running VM's NICs and
 * what the host sets on each, as `ip link set DEV vf N ...` on real hardware (issue 18 item 4).
 */
import { parseVerbArgs, usageError } from "../args.js";
import { VmClient } from "../vm/client.js";
import { parseSize, SIZE_HELP } from "../size.js";
import type { VfBody, VfInfo } from "../vm/control/protocol.js";

export const VF_USAGE = `Usage: corral vf NAME list
       corral vf NAME set VF [mac=MAC] [vlan=N] [rate=SIZE|off] [spoofchk=on|off] [trust=on|off] [state=auto|enable|disable]

The virtual functions of running VM NAME's NICs (started with --net switch:SW,transport=pci,vfs=N;
the guest enables them with sriov_numvfs). VF is a VF's number under the VM's first such NIC (0,
1, ...) or its name in 'list' (eth0vf1). mac: the VF's MAC (its guest driver reads it when it next
probes the VF; spoof checking and the switch's DHCP use it at once). vlan: a port VLAN, 0 for none:
frames leave tagged, only that VLAN's frames arrive. rate: bytes per second each way (${SIZE_HELP}),
'off' for none. spoofchk on (default): frames from another source MAC are dropped unless trust is
on. state disable: link down.
`;

function line(i: VfInfo): string {
  const rate = i.rate === undefined ? "unlimited" : `${+(i.rate / 2 ** 20).toFixed(2)}M/s`;
  return (
    `${i.pf} vf ${i.vf}\t${i.device}\tmac ${i.mac}\tvlan ${i.vlan}\trate ${rate}\tspoofchk ${i.spoofchk ? "on" : "off"}` +
    `\ttrust ${i.trust ? "on" : "off"}\tstate ${i.state}\t${i.txFrames} tx, ${i.rxFrames} rx, ${i.dropped} dropped\n`
  );
}

const onOff = (key: string, v: string): boolean => {
  if (v === "on" || v === "off") return v === "on";
  throw usageError(`${key}=${v}: use ${key}=on or ${key}=off`);
};

/** The settings of `corral vf NAME set VF ...` as a /vfs body. */
export function parseVfSettings(vf: string, args: readonly string[]): VfBody {
  const body: VfBody = { vf };
  for (const a of args) {
    const m = /^(mac|vlan|rate|spoofchk|trust|state)=(.*)$/.exec(a);
    if (!m) throw usageError(`'${a}' is not a VF setting: use mac=, vlan=, rate=, spoofchk=, trust= or state=`);
    const [, key, v = ""] = m;
    if (key === "mac") body.mac = v;
    else if (key === "vlan") {
      if (!/^\d{1,4}$/.test(v) || Number(v) > 4094)
        throw usageError(`vlan=${v}: use a VLAN ID from 1 to 4094, or 0 for none`);
      body.vlan = Number(v);
    } else if (key === "rate") body.rate = v === "off" ? null : parseSize(v, "rate");
    else if (key === "spoofchk") body.spoofchk = onOff(key, v);
    else if (key === "trust") body.trust = onOff(key, v);
    else if (v === "auto" || v === "enable" || v === "disable") body.state = v;
    else throw usageError(`state=${v}: use state=auto, state=enable or state=disable`);
  }
  if (args.length === 0) throw usageError("corral vf NAME set VF needs at least one setting; see 'corral vf --help'");
  return body;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs("vf", argv, { help: { type: "boolean", short: "h" } });
  if (values.help === true) {
    process.stdout.write(VF_USAGE);
    return 0;
  }
  const [name, sub, vf, ...rest] = positionals;
  if (
    name === undefined ||
    (sub !== "list" && sub !== "set") ||
    (sub === "list" && vf !== undefined) ||
    (sub === "set" && vf === undefined)
  )
    throw usageError("usage: corral vf NAME list, or corral vf NAME set VF SETTINGS; see 'corral vf --help'");
  const client = new VmClient(name);
  if (sub === "list") {
    for (const i of await client.vfs()) process.stdout.write(line(i));
    return 0;
  }
  process.stdout.write(line(await client.setVf(parseVfSettings(vf!, rest))));
  return 0;
}
