/**
 * The part of the guest's /init (image/init-script.ts) that configures eth0. Linux's own
 * autoconfiguration (`ip=`, Documentation/admin-guide/nfs/nfsroot.rst) is not built into Debian's
 * kernel and would run before the virtio_net module loads anyway, so /init reads the same `ip=`
 * parameter from /proc/cmdline and applies it with busybox:
 *   ip=dhcp (also on, any, both, bootp)   udhcpc; `corral run --net switch:...` adds this
 *   ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>[:<dns0>]   static (autoconf dhcp:
 *                                         udhcpc); a user-mode NIC adds this with its fixed addresses, which
 *                                         costs two commands at boot where a DHCP exchange costs seconds
 *   ip=off / ip=none, or no ip=           the interface is left alone
 * Without an ip= parameter this costs one builtin `read` of /proc/cmdline.
 */

/** Where /init writes udhcpc's event script (busybox udhcpc configures nothing by itself). */
export const UDHCPC_SCRIPT_PATH = "/etc/corral/udhcpc.sh";

/** udhcpc calls it with $1 = deconfig | bound | renew | nak | leasefail and the lease in the environment. */
export const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "\${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      ip route del default dev "$interface" 2>/dev/null
      set -- $router
      ip route add default via "$1" dev "$interface"
    fi
    if [ -n "$dns" ]; then
      for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
    fi
    echo "corral: $interface $ip" >/dev/console ;;
esac
exit 0
`;

export const GUEST_NET_SETUP = `# Network (net/guest-net.ts): apply ip= from the kernel command line to the virtio NIC.
read -r CORRAL_CMDLINE < /proc/cmdline
CORRAL_IP=
for a in $CORRAL_CMDLINE; do case "$a" in ip=*) CORRAL_IP="\${a#ip=}" ;; esac; done
if [ -n "$CORRAL_IP" ] && [ "$CORRAL_IP" != off ] && [ "$CORRAL_IP" != none ]; then
  ( set -f; IFS=:; set -- $CORRAL_IP
    case "$1" in dhcp|on|any|both|bootp) cip= auto=dhcp dev=eth0 ;; *) cip=$1 gw=$3 mask=$4 host=$5 dev=\${6:-eth0} auto=$7 dns=$8 ;; esac
    [ -z "$cip" ] && auto=dhcp
    ip link set lo up
    if [ -e /sys/class/net/$dev ]; then
      ip link set "$dev" up
      if [ "$auto" = dhcp ] || [ "$auto" = on ] || [ "$auto" = any ]; then
        mkdir -p /etc/corral
        cat > ${UDHCPC_SCRIPT_PATH} <<'CORRAL_EOF'
${UDHCPC_SCRIPT}CORRAL_EOF
        chmod 755 ${UDHCPC_SCRIPT_PATH}
        udhcpc -i "$dev" -s ${UDHCPC_SCRIPT_PATH} -q -n -t 5 -T 2 >/dev/null 2>&1 || echo "corral: no DHCP lease on $dev"
      else
        ifconfig "$dev" "$cip" netmask "\${mask:-255.255.255.0}" up
        [ -n "$gw" ] && ip route add default via "$gw" dev "$dev"
        [ -n "$host" ] && hostname "$host"
        [ -n "$dns" ] && echo "nameserver $dns" > /etc/resolv.conf
      fi
    else
      echo "corral: ip= given but there is no network device $dev"
    fi )
fi
`;
