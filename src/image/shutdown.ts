/**
 * How the guest powers off: one shell function, `corral_poweroff`, shared by /init (after the
 * command or the console shell), the agent (`S`, `corral stop`) and the console's `poweroff`.
 *
 * On a root disk (CORRAL_ROOT set by /init's switch to it) the file system must be left clean: a
 * remount read-only commits the journal and clears ext4's needs_recovery flag, so the next mount
 * replays nothing. A base image is mounted read-only later (an overlay's base, `--disk X,ro`),
 * and ext4 refuses a read-only mount of a journal that needs recovery ("write access
 * unavailable"). The remount fails with EBUSY while any process has a file of it open for
 * writing, or is in the middle of a write (the VFS's sb_prepare_remount_readonly: the agent
 * writing its pid file as it starts was enough, measured: one boot in ten under load), so after
 * a failed attempt every other process is ended (kill -1 spares the caller and PID 1) and the
 * remount is tried again.
 */

/** The function's text; `busybox` is where the guest's busybox is (its `poweroff -f` goes straight to the kernel). */
export function shutdownFunction(busybox = "/bin/busybox"): string {
  return `corral_poweroff() {
  sync
  if [ -n "$CORRAL_ROOT" ]; then
    n=0
    until ${busybox} mount -o remount,ro / 2>/dev/null; do
      n=$((n + 1))
      [ $n -eq 1 ] && kill -TERM -1 2>/dev/null
      [ $n -eq 5 ] && kill -KILL -1 2>/dev/null
      [ $n -ge 40 ] && { echo "corral: / stays read-write (busy): its journal is replayed at the next mount"; break; }
      ${busybox} sleep 0.1
    done
  fi
  ${busybox} poweroff -f
}
`;
}
