/**
 * The guest agent: a busybox `sh` script (nothing compiled for the user's machine) that /init
 * starts. It serves one virtio-console named port (virtio 1.2 §5.3.6.2 PORT_NAME; the guest sees
 * /dev/vportNpM and /sys/class/virtio-ports/<dev>/name) with a line protocol; src/vm/agent/protocol.ts
 * is the host side and documents the frames.
 *
 * Each exec has a runner, which runs the command in its own session (setsid), so a timeout kills
 * its whole process group and leaves the agent and the VM running. The runner of a -t exec is
 * this script run again as `corral-agent run ...` with `setsid setsid`: the second setsid is then
 * a process-group leader, so it forks and returns at once, which starts the runner in the
 * background without the shell's `&`. A shell gives what it starts with `&` SIGINT and SIGQUIT
 * ignored (POSIX 2.11, "Signals and Error Handling"), the command would inherit that, and Ctrl-C
 * on its terminal would do nothing (/init starts the agent the same way for the same reason).
 *
 * Output is read from FIFOs with `dd` (one read per chunk, so output streams as it is produced),
 * base64-encoded and written as one line per write(2): Linux's virtio_console sends each write
 * (up to 32 KiB) as one buffer under the port's lock, so lines from concurrent execs never
 * interleave.
 *
 * Processes are what an exec costs here: each fork of busybox takes tens of milliseconds of the
 * guest's time (an exec as much again), while the shell's builtins (echo, printf, read, test,
 * kill, wait, redirections) cost next to nothing. So an exec without stdin or terminal starts
 * five: the runner (a fork of this shell), the command (setsid, then sh), a reader of stderr (a
 * fork of the runner) and one dd per stream at end of file; the runner reads stdout itself. Each
 * chunk of output adds two (dd and base64). Such an exec takes a slot, $D/sN.*: its FIFOs and
 * files are made once and reused by later execs, so neither mkfifo nor rm runs per exec. An exec
 * with stdin (or a terminal) has files of its own, made with one mkfifo and removed after R.
 *
 * Stdin is streamed: the main loop hands I and E lines to the exec's feeder through a FIFO (ctl)
 * and never waits for the command; the feeder keeps the command's stdin FIFO open for writing
 * until E (so the command does not read end of file between chunks) and answers each chunk with
 * a credit (C), which bounds what the host sends and so what ctl ever holds.
 *
 * With a terminal (-t), the command runs under busybox `telnetd -i` (the only pseudo-terminal
 * server in the guest's busybox; the host side of its encoding is src/vm/agent/telnet.ts), which starts
 * this script again, with CORRAL_TTY set, on the pseudo-terminal: it publishes the terminal's
 * name for W frames, sets its size, runs the command and keeps its status.
 */
import { AGENT_PORT_NAME, AGENT_VERSION, OUTPUT_CHUNK } from "../vm/agent/protocol.js";
import { shutdownFunction } from "./shutdown.js";
import { BUSYBOX_LAYOUT, type GuestLayout } from "./guest-layout.js";

/** Where /init finds the agent. */
export const GUEST_AGENT_PATH = "/bin/corral-agent";
/** The agent's pid, e.g. for tests that make it stop answering. */
export const GUEST_AGENT_PID = "/run/corral-agent/pid";

/** The agent for a layout: its interpreter, and the shell that runs each command. */
export function agentScript(l: GuestLayout = BUSYBOX_LAYOUT): string {
  return `${l.shebang}
# Corral guest agent (see src/image/agent.ts and src/vm/protocol.ts on the host).
D=/run/corral-agent
${shutdownFunction(l.busybox)}
# stream ID FD FILE: the output of exec ID on fd FD, read from stdin (its FIFO), as "O ID FD
# base64" lines, one dd read per line. dd writes each chunk to FILE, not a pipe: the last read
# (end of file) then costs one process, dd, where a command substitution of dd | base64 costs three.
stream() {
  while dd bs=${OUTPUT_CHUNK} count=1 of=$3 2>/dev/null && [ -s $3 ]; do
    echo "O $1 $2 $(base64 -w 0 < $3)" >&3
  done
}

# feed ID: stdin of exec ID. Its chunks ("I N" and N bytes) and E come on fd 6 (the FIFO ctl,
# opened by the main loop before this started, so nothing is lost); the FIFO in stays open for
# writing until E.
feed() {
  exec 5> $D/$1.in
  while read -r op n <&6; do
    [ "$op" = I ] || break
    dd bs=$n count=1 iflag=fullblock <&6 >&5 2>/dev/null
    echo "C $1" >&3
  done
}

# run ID FILES STDIN [ROWS COLS]: the runner of exec ID, whose files are FILES.* (a slot's or its
# own: see the main loop); "R ID STATUS" when the command ends.
run() {
  # The agent is exempt from the OOM killer (/init); the commands it runs are not.
  echo 0 > /proc/self/oom_score_adj
  d=$2
  in=/dev/null
  f=
  if [ "$3" = 1 ]; then in=$d.in; feed $1 & f=$!; fi
  exec 6<&-
  # A kill (K) that comes before a process group is known leaves $d.kill: each group writes its
  # id, then looks for kill, while K writes kill, then reads the ids, so one of them sees the other.
  if [ -n "$4" ]; then
    stream $1 1 $d.o1 < $d.1 &
    a=$!
    stream $1 2 $d.o2 < $d.2 &
    b=$!
    echo "rows $4 cols $5" > $d.size
    # Started in the foreground: this runner was started without '&' (see the main loop) and so
    # is telnetd, so SIGINT is not ignored on the terminal. -K: the session ends when the
    # command does, even if a background job keeps the terminal open.
    CORRAL_TTY=$d setsid sh -c "echo \\$\\$ > $d.pgid; [ -s $d.kill ] && exit 137; exec telnetd -i -K -l ${GUEST_AGENT_PATH} -f /dev/null" < $in > $d.1 2> $d.2 3>&-
    st=137
    [ -s $d.st ] && read -r st < $d.st
    wait $a
  else
    # The runner opens the output FIFOs itself, first read-write (which never blocks, fifo(7)),
    # then read-only, and only the command gets write ends. No open can block, and the readers
    # see end of file once the command's last process is gone, even a command killed (K) before
    # it ran: its copies of the write ends close with it. (When the command opened the FIFOs
    # itself, one killed before its opens left this runner blocked on a FIFO without writers.)
    exec 7<> $d.1 8<> $d.2 4< $d.1 5< $d.2
    setsid ${l.commandShell} $d.cmd < $in >&7 2>&8 3>&- 4<&- 5<&- 7>&- 8>&- &
    p=$!
    exec 7>&- 8>&-
    echo $p > $d.pgid
    # Before setsid the group may not exist yet: the process itself is killed too.
    [ -s $d.kill ] && kill -9 -- -$p $p 2>/dev/null
    # This runner reads stdout itself (a fork less); stderr needs a reader of its own.
    stream $1 2 $d.o2 <&5 4<&- &
    b=$!
    exec 5<&-
    stream $1 1 $d.o1 <&4
    exec 4<&-
    wait $p
    st=$?
  fi
  [ -n "$f" ] && kill $f 2>/dev/null
  # Both streams at end of file: no process holds the FIFOs any more.
  wait $b
  case $d in
    # Free the slot before R, so that the host's next exec finds it free.
    $D/s*) : > $d.u
      echo "R $1 $st" >&3 ;;
    *) echo "R $1 $st" >&3
      rm -f $d.* ;;
  esac
}

# On the pseudo-terminal of a -t exec (telnetd runs this as its login program). Writing pts
# before reading size, while W writes size before reading pts, means a resize during start-up is
# applied by one side or the other.
if [ -n "$CORRAL_TTY" ]; then
  d=$CORRAL_TTY
  unset CORRAL_TTY
  echo $$ > $d.tpg
  [ -e $d.kill ] && exit 0
  tty > $d.pts.n && mv $d.pts.n $d.pts
  stty $(cat $d.size)
  # Ctrl-C interrupts the command, not this shell, which must stay to report the status.
  trap : INT
  ${l.commandShell} $d.cmd
  echo $? > $d.st
  exit 0
fi
if [ "$1" = run ]; then
  shift
  run "$@"
  exit 0
fi

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

exec 3<> "$port"
# A restarted agent (see /init) starts a fresh line: its killed predecessor may have left half of one.
printf '\\nH ${AGENT_VERSION}\\n' >&3
# I and E open ctl with <>, which never blocks, and one chunk never fills its pipe (the credits
# bound what it holds), so no exec can stall this loop. A chunk's bytes follow its I line: dd
# reads exactly them (never past them) in large reads, where the read builtin takes one byte per
# system call; if ctl is gone they are read and dropped, so the stream stays in step.
while :; do
  while read -r op id a b c e <&3; do
    d=$D/$id
    case "$op" in
      X) if [ "$b" != 1 ]; then
           # The first free slot (its user file u is empty): its FIFOs and files are reused.
           s=0
           while [ -s $D/s$s.u ]; do s=$((s + 1)); done
           d=$D/s$s
           [ -p $d.1 ] || mkfifo $d.1 $d.2
           : > $d.pgid
           : > $d.kill
           echo $id > $d.u
         fi
         printf '%b' "$a" > $d.cmd
         echo "A $id" >&3
         [ "$b" = 1 ] && mkfifo $d.in $d.ctl $d.1 $d.2 && exec 6<> $d.ctl
         # A terminal's runner is started without '&' (see the top of this file); other execs
         # keep the cheaper fork of this shell (a fork and exec of busybox costs 40-80 ms
         # here), and their commands, like any started with '&', ignore SIGINT.
         if [ -n "$c" ]; then setsid setsid ${GUEST_AGENT_PATH} run $id $d $b $c $e; else run $id $d $b & fi
         exec 6<&- ;;
      I) { echo "I $a"; dd bs=$a count=1 iflag=fullblock <&3 2>/dev/null; a=; } 1<> $d.ctl 2>/dev/null
         [ -z "$a" ] || dd bs=$a count=1 iflag=fullblock <&3 >/dev/null 2>&1 ;;
      E) [ -p $d.ctl ] && echo E 1<> $d.ctl ;;
      W) echo "rows $a cols $b" > $d.size.n && mv $d.size.n $d.size && [ -f $d.pts ] && stty -F $(cat $d.pts) rows $a cols $b ;;
      K) # The exec's slot is the one whose user file names it; with stdin it has its own files.
         s=0
         while [ -e $D/s$s.u ]; do
           read -r u < $D/s$s.u
           [ "$u" = "$id" ] && d=$D/s$s && break
           s=$((s + 1))
         done
         [ -e $d.cmd ] && echo "$id" > $d.kill
         # The process too: before its setsid, its group does not exist yet.
         for g in $(cat $d.tpg $d.pgid 2>/dev/null); do kill -9 -- -$g $g; done 2>/dev/null ;;
      P) echo "P $id" >&3 ;;
      S) corral_poweroff ;;
    esac
  done
  sleep 1
done
`;
}

export const AGENT_SCRIPT = agentScript();
