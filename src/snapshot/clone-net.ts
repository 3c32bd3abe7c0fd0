/**
 * A fork's clones on the network (issue 16 item 4): each clone takes a new identity on every
 * network others can see.
 *   - A NIC on a switch or a TAP gets a new MAC: the clone's spec drops the MAC the snapshot
 *     recorded, so the clone's process gives it its default one (src/net/attach.ts defaultMac: from
 *     its own pid, unique among the host's running VMs), and a new port on the switch (each port
 *     is its process's) or a new TAP device (a name with %d, numbered by the kernel).
 *   - The guest's driver read the MAC at boot (Linux's virtio_net reads the config space once, in
 *     virtnet_probe), so the clone's guest is told through the agent, after its new VM generation
 *     ID: the interface holding the old MAC takes the new one (down and up, so IPv6's link-local
 *     address follows it), keeps its static routes, and when /init configured it by DHCP
 *     (src/net/guest-net.ts) asks for a lease again: the switch's DHCP server, which answers only
 *     its own NIC's MAC, leases the clone an address of its own.
 *   - Until then, frames the clone's guest sends from the parent's MAC are dropped
 *     (VirtioNet.blockSource): its TCP retransmissions and ARP answers would reach the parent's
 *     peers, and teach the switch that the parent is behind the clone's port.
 *   - A user-mode NIC is a private network of its own VM: it keeps its MAC and 10.0.2.15. Its port
 *     forwards stay with the parent (a host port has one listener): the clones have none.
 */
import type { VirtioDevice } from "../devices/virtio/device.js";
import { VirtioNet } from "../devices/virtio/net.js";
import type { VmSpec } from "../vm/spec.js";
import { MAX_IFNAME } from "../sys/layout.js";

type Devices = VmSpec["devices"];

/** The kernel replaces %d in a TAP name with the first free number; room for three digits. */
function tapTemplate(ifname: string): string {
  if (ifname.includes("%d")) return ifname;
  const base = ifname.replace(/\d+$/, "").slice(0, MAX_IFNAME - 3);
  return `${base.length > 0 ? base : "corral"}%d`;
}

/** A clone's devices: switch and TAP NICs without their MAC (a TAP name numbered anew), user NICs without forwards. */
export function cloneDevices(devices: Devices): Devices {
  return devices.map((d) => {
    if (d.kind !== "net") return d;
    const { mac: _mac, ...rest } = d;
    const b = d.backend;
    if (b.type === "switch") return { ...rest, backend: b };
    if (b.type === "tap")
      return { ...rest, backend: b.ifname !== undefined ? { ...b, ifname: tapTemplate(b.ifname) } : b };
    if (b.forwards === undefined || b.forwards.length === 0) return d;
    const { forwards: _f, ...user } = b;
    return { ...d, backend: user };
  });
}

/** A NIC whose MAC the restore changed: the guest still holds `from`. */
export interface MacChange {
  nic: VirtioNet;
  from: string;
  to: string;
}

/** The NICs of a restored machine whose MAC differs from the one its snapshot recorded (a fork's clone). */
export function macChanges(saved: Devices, devices: readonly VirtioDevice[]): MacChange[] {
  return saved.flatMap((s, i): MacChange[] => {
    const d = devices[i];
    if (s.kind !== "net" || s.mac === undefined || !(d instanceof VirtioNet)) return [];
    const from = s.mac.toLowerCase();
    return d.mac === from ? [] : [{ nic: d, from, to: d.mac }];
  });
}

/**
 * The guest's side, a POSIX shell script run by the agent (busybox sh in the default guest, dash
 * on a Debian disk: Corral's busybox applets come first in PATH there). MACs are the host's own
 * strings ([0-9a-f:] only), never guest bytes. Exits non-zero when an interface could not be
 * changed; a missing DHCP client or no answer is one console line, the clone runs on.
 */
export function reidentifyScript(changes: readonly MacChange[]): string {
  if (changes.length === 0) return "";
  for (const c of changes)
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(c.from) || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(c.to))
      throw new RangeError(`not a MAC: ${c.from} or ${c.to}`);
  // The first line keeps the status of what ran before (the clock and the hostname).
  return `
corral_s=$?
PATH=/usr/lib/corral/bin:$PATH
corral_dhcp=
if [ -x /etc/corral/udhcpc.sh ]; then
  # The interface /init configured by DHCP: ip= as guest-net.ts reads it.
  read -r corral_c < /proc/cmdline
  for a in $corral_c; do case "$a" in ip=*) corral_ip="\${a#ip=}" ;; esac; done
  set -f; IFS=:; set -- $corral_ip; unset IFS; set +f
  case "$1" in
    dhcp|on|any|both|bootp) corral_dhcp=eth0 ;;
    "") [ -n "$corral_ip" ] && corral_dhcp=\${6:-eth0} ;;
    *) case "$7" in dhcp|on|any) corral_dhcp=\${6:-eth0} ;; esac ;;
  esac
fi
corral_reid() {
  for d in /sys/class/net/*; do
    read -r m < "$d/address" || continue
    [ "$m" = "$1" ] || continue
    i=\${d##*/}
    r=$(ip -4 route show dev "$i")
    ip link set dev "$i" down && ip link set dev "$i" address "$2" && ip link set dev "$i" up ||
      { echo "corral: could not give $i the MAC $2" >&2; return 1; }
    echo "$r" | while read -r l; do
      [ -n "$l" ] || continue
      case " $l " in *" dev "*) ip route add $l ;; *) ip route add $l dev "$i" ;; esac 2>/dev/null
    done
    if [ "$i" = "$corral_dhcp" ]; then
      udhcpc -i "$i" -s /etc/corral/udhcpc.sh -q -n -t 3 -T 1 >/dev/null 2>&1 ||
        echo "corral: no DHCP lease on $i for its new MAC $2" >/dev/console
    fi
    return 0
  done
  echo "corral: no interface has the MAC $1" >&2
  return 1
}
${changes.map((c) => `corral_reid ${c.from} ${c.to} || corral_s=1`).join("\n")}
exit $corral_s
`;
}
