/**
 * The guest agent: a busybox `sh` script (nothing compiled for the user's machine) that /init
 * starts in the background. It serves one virtio-console named port (virtio 1.2 §5.3.6.2
 * PORT_NAME; the guest sees /dev/vportNpM and /sys/class/virtio-ports/<dev>/name) with a line
 * protocol; src/vm/protocol.ts is the host side and documents the frames.
 *
 * Each exec runs in its own session (setsid), so a timeout kills its whole process group and
 * leaves the agent and the VM running. Output is read from FIFOs with `dd` (one read per chunk,
 * so output streams as it is produced), base64-encoded and written as one line per write(2):
 * Linux's virtio_console sends each write (up to 32 KiB) as one buffer under the port's lock,
 * so lines from concurrent execs never interleave.
 */
import { AGENT_PORT_NAME, AGENT_VERSION, OUTPUT_CHUNK } from "../vm/protocol.js";

/** Where /init finds the agent. */
export const GUEST_AGENT_PATH = "/bin/corral-agent";
/** The agent's pid, e.g. for tests that make it stop answering. */
export const GUEST_AGENT_PID = "/run/corral-agent/pid";

export const AGENT_SCRIPT = `#!/bin/sh
# Corral guest agent (see src/image/agent.ts and src/vm/protocol.ts on the host).
D=/run/corral-agent
# No virtio-console on this board (virtio 1.2 §5: device ID 3): nothing to serve.
grep -qx 0x0003 /sys/bus/virtio/devices/*/device 2>/dev/null || exit 0
mkdir -p $D
port=
i=0
while [ -z "$port" ] && [ $i -lt 100 ]; do
  for n in /sys/class/virtio-ports/*/name; do
    [ -f "$n" ] && [ "$(cat "$n")" = "${AGENT_PORT_NAME}" ] && port=/dev/\${n#/sys/class/virtio-ports/} && port=\${port%/name}
  done
  [ -n "$port" ] || { i=$((i + 1)); sleep 0.2; }
done
[ -n "$port" ] || exit 0
echo $$ > ${GUEST_AGENT_PID}

# stream ID FD FIFO: the FIFO's bytes as "O ID FD base64" lines, one dd read per line.
stream() {
  while c=$(dd bs=${OUTPUT_CHUNK} count=1 2>/dev/null | base64 | tr -d '\\n'); [ -n "$c" ]; do
    echo "O $1 $2 $c" >&3
  done < "$3"
}

# run ID STDIN: the command script of exec ID in a new session; "R ID STATUS" when it ends.
run() {
  d=$D/$1
  mkfifo $d/1 $d/2
  stream $1 1 $d/1 &
  a=$!
  stream $1 2 $d/2 &
  b=$!
  in=/dev/null
  [ "$2" = 1 ] && in=$d/in
  setsid sh $d/cmd < $in > $d/1 2> $d/2 &
  echo $! > $d/pgid
  wait $!
  st=$?
  wait $a $b
  echo "R $1 $st" >&3
  rm -rf $d
}

exec 3<> "$port"
echo "H ${AGENT_VERSION}" >&3
while :; do
  while read -r op id a b <&3; do
    case "$op" in
      X) mkdir -p $D/$id && echo "$a" | base64 -d > $D/$id/cmd
         echo "A $id" >&3
         if [ "$b" = 1 ]; then : > $D/$id/in; else run $id 0 & fi ;;
      I) echo "$a" | base64 -d >> $D/$id/in ;;
      E) run $id 1 & ;;
      K) [ -f $D/$id/pgid ] && kill -9 -- -$(cat $D/$id/pgid) 2>/dev/null ;;
      P) echo "P $id" >&3 ;;
      S) sync; poweroff -f ;;
    esac
  done
  sleep 1
done
`;
