/**
 * SR-IOV rate-limit benchmark (issue 18 item 4): a VF of VM A's virtio-net PF, enabled by the
 * guest and moved into a network namespace, sends a 4 MiB file with busybox nc to VM B on the
 * same switch, once with the VF limited by the host (`corral vf A set 0 rate=512K`) and once
 * unlimited, alternating in one run. The receiving guest measures from the first byte it gets to
 * the end of the connection (its /proc/uptime).
 */
import { Corral, type Vm } from "../api/index.js";

const KIB = 4096;
/** 512 KiB/s: the 4 MiB file takes about 8 s, well above the unlimited copy's time. */
const RATE = 512 * 1024;
const PF = "/sys/class/net/eth0/device/..";

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec(["sh", "-c", script]);
  if (r.exitCode !== 0) throw new Error(`${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** Bytes per second of one copy from A's VF (in namespace `pid`) to B, as B measured it. */
async function copy(a: Vm, b: Vm, pid: string, bIp: string): Promise<number> {
  const recv = sh(
    b,
    "rm -f /tmp/got /tmp/hold; mkfifo /tmp/hold; sleep 600 > /tmp/hold & H=$!; " +
      "nc -l -p 5000 < /tmp/hold > /tmp/got & NC=$!; " +
      "while [ ! -s /tmp/got ]; do sleep 0.02; done; read t0 x < /proc/uptime; " +
      "wait $NC; read t1 x < /proc/uptime; kill $H; " +
      'echo "$(wc -c < /tmp/got) $(echo "$t0 $t1" | awk \'{print $2 - $1}\')"',
  );
  await new Promise((r) => setTimeout(r, 1000));
  await sh(a, `nsenter -t ${pid} -n sh -c 'until nc ${bIp} 5000 < /tmp/f; do sleep 0.5; done'`);
  const [bytes, secs] = (await recv).split(" ").map(Number);
  if (bytes !== KIB * 1024 || !(secs! > 0)) throw new Error(`the copy failed: ${bytes} bytes in ${secs} s`);
  return bytes / secs!;
}

export async function benchSriov(rounds: number): Promise<string> {
  const sw = `bsriov${process.pid}`;
  const [a, b] = await Promise.all([
    Corral.start({
      name: `bench-sriov-a-${process.pid}`,
      memory: "256M",
      irqchip: "aia",
      networks: [`switch:${sw},transport=pci,vfs=1`],
    }),
    Corral.start({ name: `bench-sriov-b-${process.pid}`, memory: "256M", networks: [`switch:${sw}`] }),
  ]);
  try {
    const bIp = await sh(b, "ip -4 addr show eth0 | grep -o 'inet [0-9.]*' | cut -d' ' -f2");
    const pid = await sh(
      a,
      `echo 1 > ${PF}/sriov_numvfs; dd if=/dev/urandom of=/tmp/f bs=1024 count=${KIB} 2>/dev/null; ` +
        "V=$(for i in /sys/class/net/*; do [ -e $i/device/../physfn ] && basename $i; done); " +
        "unshare -n sleep 3600 </dev/null >/dev/null 2>&1 & P=$!; " +
        'while [ "$(readlink /proc/$P/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.1; done; ' +
        "ip link set $V netns $P; " +
        // The namespace's own commands in single quotes: the outer shell expands nothing of them.
        "nsenter -t $P -n env V=$V sh -c 'ip link set lo up; ip link set $V up; " +
        'L=$(udhcpc -i $V -n -q -s /bin/true 2>&1 | grep -o "lease of [0-9.]*" | cut -d" " -f3); ' +
        "ip addr add $L/24 dev $V'; echo $P",
    );
    const limited: number[] = [];
    const free: number[] = [];
    for (let i = 0; i < rounds; i++) {
      await a.setVf(0, { rate: RATE });
      limited.push(await copy(a, b, pid, bIp));
      await a.setVf(0, { rate: null });
      free.push(await copy(a, b, pid, bIp));
    }
    const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const kibs = (n: number): string => `${(n / 1024).toFixed(0)} KiB/s`;
    const l = med(limited);
    const f = med(free);
    return [
      `### SR-IOV: a VF's rate limit (${rounds} round${rounds > 1 ? "s" : ""})`,
      "",
      "| VF of a virtio-net PF, 4 MiB with busybox nc to another VM | limit | measured | measured / limit |",
      "|---|---|---|---|",
      `| \`corral vf A set 0 rate=512K\` | ${kibs(RATE)} | ${kibs(l)} | ${(l / RATE).toFixed(3)}x |`,
      `| no limit (the peer, same VF, same run) | - | ${kibs(f)} | - |`,
      "",
    ].join("\n");
  } finally {
    await Promise.all([a.remove({ force: true }), b.remove({ force: true })]);
  }
}
