/**
 * The guest's /init (PID 1), a busybox `sh` script, and the files it reads. The host talks to it
 * through a second cpio archive appended at boot (the kernel unpacks concatenated archives, see
 * the kernel's Documentation/driver-api/early-userspace/buffer-format.rst) holding /corral/cmd and
 * /corral/files/*. Output lines the host parses:
 *   "corral: init started"       first line init prints (boot benchmarks time up to it)
 *   "@@CORRAL-BEGIN@@"           the command's output follows
 *   "@@CORRAL-EXIT <status>@@"   the command ended with <status>
 */
import { GUEST_AGENT_PATH } from "./agent.js";
import { BUSYBOX_LAYOUT, type GuestLayout } from "./guest-layout.js";

import { GUEST_NET_SETUP } from "../net/guest-net.js";
import { shutdownFunction } from "./shutdown.js";

export const INIT_STARTED = "corral: init started";
export const CMD_BEGIN = "@@CORRAL-BEGIN@@";
export const CMD_EXIT_RE = /^@@CORRAL-EXIT (\d+)@@$/m;
export const GUEST_HOSTNAME = "corral";

/** Where the host's command archive puts things inside the guest. */
export const GUEST_CMD_PATH = "/corral/cmd";
export const GUEST_FILES_DIR = "/corral/files";
/** Modules to insmod, one file name per line, in dependency order (written by buildInitramfs). */
export const GUEST_MODULE_LIST = "/etc/corral/modules";
export const GUEST_MODULE_DIR = "/lib/modules/corral";

export const MOTD = "Corral guest; 'poweroff' or Ctrl-A X to quit\n";

// busybox poweroff/reboot without -f signal PID 1, and our /init is a plain script that would
// ignore them: in the shell they power off as /init does (a root disk left clean, shutdown.ts).
export const PROFILE = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=\${TERM:-vt100}
export PS1='\\u@\\h:\\w\\$ '
${shutdownFunction()}poweroff() { corral_poweroff; }
halt() { corral_poweroff; }
reboot() { /bin/busybox reboot -f; }
cat /etc/motd
`;

/** The guest's /init for a layout (the default guest's unless told). */
export function initScript(l: GuestLayout = BUSYBOX_LAYOUT): string {
  return `${l.shebang}
# Corral guest init. Runs as PID 1 from the initramfs; must never exit (the kernel would panic),
# so every path ends in 'poweroff -f'.
export PATH=${l.path} HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# /run is a tmpfs, as on any Linux system: the agent keeps its runtime files there, and on a root
# disk they must not hold the file system busy when it is remounted read-only at poweroff.
mkdir -p /run
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
hostname ${GUEST_HOSTNAME}
echo "${INIT_STARTED}"

# Virtio drivers are modules in Debian's kernel: load them only when the board has virtio devices,
# on virtio-mmio slots or as virtio-pci functions (whose transport is built in: already on the bus).
# Each line is "<module> <condition>": "-" loads it always; virtio device IDs ("0x0002,...") only
# when one such device is on the bus (initramfs.ts: verifying a signed module's hash costs the
# emulated guest about 160 instructions a byte, and ext4 alone is 7 MB). The bus is read again for
# each line, as the transport (virtio_mmio, the first line) adds the devices when it loads.
if [ -s ${GUEST_MODULE_LIST} ] && { ls /sys/bus/platform/devices | grep -q virtio_mmio || ls /sys/bus/virtio/devices 2>/dev/null | grep -q virtio; }; then
  while read -r m need; do
    if [ -n "$need" ] && [ "$need" != "-" ]; then
      ids=" $(echo $(cat /sys/bus/virtio/devices/*/device 2>/dev/null)) "
      hit=
      for id in $(echo "$need" | tr , ' '); do case "$ids" in *" $id "*) hit=1 ;; esac; done
      [ -n "$hit" ] || continue
    fi
    [ -d /sys/module/"\${m%.ko}" ] || insmod ${GUEST_MODULE_DIR}/"$m" || echo "corral: could not load module $m"
  done < ${GUEST_MODULE_LIST}
fi

# With console=hvc0 the console is virtio-console port 0. The driver is built in but its
# transport, virtio_mmio, is a module (loaded just above), so the kernel had no console to open
# for PID 1: stdin/stdout/stderr are closed until now. With named ports (MULTIPORT) port 0 is
# added only after the host answers the driver's DEVICE_READY (virtio 1.2 5.3.6.2): wait for it
# in sysfs. Not by opening /dev/console to try: the last close of a tty throws away its input,
# and host input (commands piped into 'corral run') reaches the tty as soon as it is first opened.
if ! [ -t 1 ] && grep -q 'console=hvc' /proc/cmdline; then
  i=0
  until grep -qw hvc0 /sys/class/tty/console/active 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
  if grep -qw hvc0 /sys/class/tty/console/active 2>/dev/null; then
    exec </dev/console >/dev/console 2>&1
    echo "${INIT_STARTED}"
  fi
fi

# A root disk (corral image build): with root=/dev/vdX on the command line, mount it and switch
# to it; its own /init (this script) then runs with CORRAL_ROOT set and skips this step.
root=$(sed -n 's|.*root=\\(/dev/[a-z0-9]*\\).*|\\1|p' /proc/cmdline)
if [ -n "$root" ] && [ -z "$CORRAL_ROOT" ]; then
  mkdir -p /newroot
  if mount -t ext4 "$root" /newroot; then
    # The command of this boot, if any; never the one a previous boot left on the disk.
    rm -rf /newroot/corral
    [ -d /corral ] && cp -a /corral /newroot/corral
    umount /run; umount /dev/pts; umount /dev; umount /sys; umount /proc
    CORRAL_ROOT=1 exec switch_root /newroot /init
  fi
  echo "corral: could not mount the root disk $root; staying in the initramfs"
fi

${GUEST_NET_SETUP}
# The guest agent (native/corral-agent.c, image/agent.ts) serves 'corral exec' on its
# virtio-console port, if any. Not with '&', which would leave SIGINT ignored in the agent and
# every command it runs (POSIX 2.11): the second setsid is a process-group leader, so it forks
# and returns at once.
# An agent that ends is started again (issue 14 item 3: the OOM killer or a kill -9 must not leave
# the VM without exec for good); it exits 0 only when there is no port to serve. The loop and the
# agent are exempt from the OOM killer (oom_score_adj -1000, proc(5), as systemd does for the
# services that must survive); the agent puts each command's back to 0, so commands stay killable.
# The commands it starts find programs on the guest's own PATH (Debian's on a Debian disk).
setsid setsid sh -c 'echo -1000 > /proc/self/oom_score_adj; until PATH=${l.commandPath} ${GUEST_AGENT_PATH}; do sleep 1; done' </dev/null >/dev/null 2>&1

cd /
if [ -f ${GUEST_CMD_PATH} ]; then
  echo "${CMD_BEGIN}"
  ${l.commandShell} ${GUEST_CMD_PATH} </dev/null >/dev/console 2>&1
  echo "@@CORRAL-EXIT $?@@"
else
  # cttyhack opens the real console tty (ttyS0 or hvc0, from /sys/class/tty/console/active) so
  # job control and Ctrl-C work. A shell that the user leaves (exit, Ctrl-D) powers the VM off; one
  # killed by SIGKILL (status 137: the guest's OOM killer, under a fork bomb say) is started again,
  # so a detached VM is not powered off by its own memory pressure. Only 137: a shell left right
  # after a command that Ctrl-C ended also reports 128+N, and must still power off.
  while :; do
    setsid cttyhack ${l.loginShell}
    s=$?
    [ "$s" -eq 137 ] || break
    echo "corral: the console shell was killed (status $s); starting another"
  done
fi
# On a root disk, leave the file system clean (no journal to replay at the next mount).
${shutdownFunction(l.busybox)}corral_poweroff
while :; do sleep 60; done
`;
}

export const INIT_SCRIPT = initScript();
