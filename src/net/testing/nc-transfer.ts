/**
 * Guest shell scripts that move a file between two VMs on one network with busybox nc, shared by
 * the end-to-end test and the benchmark. Busybox's small nc quits as soon as its stdin ends, so
 * the receiver reads its stdin from a FIFO that never ends, and the sender waits for an
 * acknowledgement before its VM powers off (data still in its socket buffer would be lost).
 *
 * Both VMs find each other from their own address: on a fresh switch the DHCP server hands out
 * the first two addresses of its pool (or the caller passes both addresses).
 *   receiver: listens on 5000, tells the sender it is ready (5002), stores the file, acks (5001),
 *             then hashes what it got
 *   sender:   pings the receiver, waits for ready, makes its first connection (refused), then
 *             sends and waits for the ack;
 *             prints "elapsed <seconds>" measured with the guest's /proc/uptime
 */

export interface TransferPlan {
  /** The two addresses the VMs will have; each VM's peer is the one that is not its own. */
  addresses: [string, string];
  /** Size of the file the sender makes from /dev/urandom, in KiB. */
  kib: number;
}

function findPeer(p: TransferPlan): string {
  return `me=$(ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p'); peer=; for a in ${p.addresses.join(" ")}; do [ "$a" != "$me" ] && peer=$a; done; echo "me $me peer $peer"`;
}

/** Receiver: prints "bytes <n>" and "sha256 <hex>" of what it got. */
export function receiverScript(p: TransferPlan): string {
  return [
    findPeer(p),
    "mkfifo /tmp/hold; sleep 3600 > /tmp/hold & HOLD=$!",
    "nc -l -p 5000 < /tmp/hold > /tmp/got & NC=$!",
    "sleep 1",
    "i=0; until echo ready | nc $peer 5002 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 1; done",
    "wait $NC; kill $HOLD",
    // Ack before hashing: the sender's clock stops at the ack, and hashing 4 MiB is not network time.
    "i=0; until echo ok | nc $peer 5001 2>/dev/null; do i=$((i+1)); [ $i -gt 30 ] && break; sleep 1; done",
    'echo "bytes $(wc -c < /tmp/got)"; echo "sha256 $(sha256sum /tmp/got | cut -d" " -f1)"',
  ].join("\n");
}

/** Sender: prints the ping summary, "sha256 <hex>" of what it sent and "elapsed <s>". */
export function senderScript(p: TransferPlan): string {
  return [
    findPeer(p),
    `dd if=/dev/urandom of=/tmp/f bs=1024 count=${p.kib} 2>/dev/null`,
    'echo "sha256 $(sha256sum /tmp/f | cut -d" " -f1)"',
    "nc -l -p 5002 < /dev/null > /dev/null",
    "ping -c 3 $peer | grep -E 'packets (transmitted|received)'",
    // The ack listener is up before the first byte leaves, so the receiver never waits to ack.
    "nc -l -p 5001 < /dev/null > /dev/null & ACK=$!",
    // This VM's first outgoing TCP connection fills a 256 KiB table of random port offsets
    // (table_perturb, net/ipv4/inet_hashtables.c), about 8 M guest instructions of ChaCha, once
    // per boot; a refused connection to a closed port does it outside the timed copy.
    "nc $peer 5003 < /dev/null > /dev/null 2>&1",
    "read t0 x < /proc/uptime",
    "i=0; until nc $peer 5000 < /tmp/f; do i=$((i+1)); [ $i -gt 30 ] && break; sleep 1; done",
    "wait $ACK",
    "read t1 x < /proc/uptime",
    'echo "elapsed $(echo "$t0 $t1" | awk \'{print $2 - $1}\')"',
  ].join("\n");
}

/** The values a script printed as "key value" lines. */
export function field(output: string, key: string): string | undefined {
  const m = new RegExp(`^${key} (\\S+)\\s*$`, "m").exec(output);
  return m?.[1];
}
