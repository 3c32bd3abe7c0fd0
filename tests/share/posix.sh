# The same file operations run by busybox in the guest on a virtio-fs share and on the host on a
# directory of the same host file system; the two outputs must be equal. $1: the directory.
set -e
B=busybox
umask 022
cd "$1"
$B mkdir t
cd t
$B printf 'hello\n' >f
$B printf 'more\n' >>f
$B cp f g
$B truncate -s 3 g
$B printf 'abc' >e
$B truncate -s 10000 e
$B dd if=/dev/zero of=sparse bs=1 count=1 seek=100000 2>/dev/null
$B mv f f2
$B ln f2 hard
$B ln -s f2 soft
$B ln -s ../outside/nothing dangling
$B chmod 640 f2
$B chmod 1777 g
$B mkdir -p a/b/c
$B rmdir a/b/c
$B mkdir a/x
$B touch a/x/y
$B rm a/x/y
$B rmdir a/x
$B mkfifo p
$B printf 1 >r1
$B printf 2 >r2
$B mv r1 r2
$B touch -d '2020-01-02 03:04:05' old
$B mkdir nonempty
$B touch nonempty/x
if $B rmdir nonempty 2>/dev/null; then echo "rmdir of a non-empty dir succeeded"; fi
if $B ln f2 f2 2>/dev/null; then echo "link over an existing name succeeded"; fi
i=0
while [ $i -lt 150 ]; do
  $B touch "n$i"
  i=$((i + 1))
done
$B rm n7 n77
$B ls -a | $B sort | $B md5sum
$B ls | $B wc -l
for n in $($B ls | $B sort); do
  case "$n" in n*) continue ;; esac
  $B stat -c '%n %a %F %h' "$n"
  if [ -f "$n" ] && [ ! -L "$n" ]; then $B stat -c '%n size %s' "$n"; fi
done
$B stat -c '%n %Y' old
$B readlink soft
$B readlink dangling
$B cat f2 g e r2 hard soft | $B md5sum
[ "$($B stat -c %i f2)" = "$($B stat -c %i hard)" ] && echo "hard link shares the inode"
$B rm -r a
$B ls
