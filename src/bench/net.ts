/**
 * VM networking benchmark (issue 3): a file copied between two VMs with busybox nc, MB/s as the
 * sending guest measures it (from its first byte to the receiver's acknowledgement,
 * net/testing/nc-transfer.ts). Corral: two `corral run --net switch:NAME` processes, addresses
 * from Corral's DHCP. QEMU: two qemu-system-riscv64 -M virt with virtio-net-device joined by
 * `-netdev socket` over loopback, static ip=, the same kernel, initramfs and scripts.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { concatArchives } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage } from "../image/pull.js";
import { field, receiverScript, senderScript, type TransferPlan } from "../net/testing/nc-transfer.js";
import { killOnInterrupt, tempDir } from "./cleanup.js";
import { CORRAL } from "./launcher.js";

const PLAN: TransferPlan = { addresses: ["10.0.2.15", "10.0.2.16"], kib: 4096 };

interface Out {
  code: number | null;
  out: string;
}

function run(cmd: string, args: string[]): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    killOnInterrupt(child);
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString("latin1")));
    child.stderr.on("data", (b: Buffer) => (out += b.toString("latin1")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

/** MB/s from the sender's output, after checking the file arrived intact. */
function throughput(who: string, sender: Out, receiver: Out): number {
  const sent = field(sender.out, "sha256");
  const got = field(receiver.out, "sha256");
  const elapsed = Number(field(sender.out, "elapsed"));
  if (!sent || sent !== got || !(elapsed > 0)) {
    throw new Error(
      `${who}: the transfer failed\n--- sender ---\n${sender.out.slice(-2000)}\n--- receiver ---\n${receiver.out.slice(-2000)}`,
    );
  }
  return (PLAN.kib * 1024) / 1e6 / elapsed;
}

/**
 * MB/s of the file copy between two Corral VMs; `senderOptions` go after the sender's --net switch
 * (",bw=1M"), `vmArgs` to both VMs' command lines (["--transport", "pci"]).
 */
export async function corralTransfer(senderOptions = "", vmArgs: readonly string[] = []): Promise<number> {
  const sw = `bench-${process.pid}`;
  const [r, s] = await Promise.all([
    run(CORRAL, ["run", ...vmArgs, "--net", `switch:${sw}`, "--", "sh", "-c", receiverScript(PLAN)]),
    run(CORRAL, [
      ...["run", ...vmArgs, "--net", `switch:${sw}${senderOptions}`],
      ...["--", "sh", "-c", senderScript(PLAN)],
    ]),
  ]);
  return throughput("Corral", s, r);
}

async function qemu(): Promise<number> {
  const img = await ensureDefaultImage();
  const base = new Uint8Array(readFileSync(img.initramfs));
  const dir = tempDir("corral-bench-net-");
  try {
    const initrd = (script: string, name: string): string => {
      const p = join(dir, name);
      writeFileSync(p, concatArchives(base, commandArchive(script)));
      return p;
    };
    const port = 20000 + (process.pid % 20000);
    const vm = (ip: string, mac: string, initrdPath: string, netdev: string): Promise<Out> =>
      run("qemu-system-riscv64", [
        "-M",
        "virt",
        "-smp",
        "1",
        "-m",
        "512",
        "-nographic",
        "-no-reboot",
        "-global",
        "virtio-mmio.force-legacy=false",
        "-kernel",
        img.kernel,
        "-initrd",
        initrdPath,
        "-append",
        `console=ttyS0 quiet ip=${ip}:::255.255.255.0::eth0:off`,
        "-netdev",
        `socket,id=n0,${netdev}`,
        "-device",
        `virtio-net-device,netdev=n0,mac=${mac}`,
      ]);
    const receiver = vm(
      PLAN.addresses[0],
      "52:54:00:be:00:01",
      initrd(receiverScript(PLAN), "recv.cpio"),
      `listen=127.0.0.1:${port}`,
    );
    // The connecting side needs the listener up: QEMU opens it before the guest starts.
    await new Promise((r) => setTimeout(r, 1000));
    const sender = vm(
      PLAN.addresses[1],
      "52:54:00:be:00:02",
      initrd(senderScript(PLAN), "send.cpio"),
      `connect=127.0.0.1:${port}`,
    );
    const [r, s] = await Promise.all([receiver, sender]);
    return throughput("QEMU", s, r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Markdown rows for docs/benchmarks.md: the median of `rounds` alternating runs (QEMU, then
 * Corral). One run each moved the ratio between 0.76x and 1.66x from one bench to the next.
 */
export async function benchNet(rounds: number): Promise<string> {
  const qs: number[] = [];
  const cs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    qs.push(await qemu());
    cs.push(await corralTransfer());
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const c = med(cs);
  const q = med(qs);
  return [
    `### VM networking: a ${PLAN.kib / 1024} MiB file between two VMs with busybox nc (MB/s in the sending guest)`,
    "",
    "| | Corral (`--net switch:NAME`) | qemu-system-riscv64, virtio-net-device, `-netdev socket` | ratio (Corral / QEMU) |",
    "|---|---|---|---|",
    `| file copy | ${c.toFixed(2)} MB/s | ${q.toFixed(2)} MB/s | ${(c / q).toFixed(2)}x |`,
    `| (each run) | ${cs.map((x) => x.toFixed(2)).join(", ")} | ${qs.map((x) => x.toFixed(2)).join(", ")} | |`,
    "",
  ].join("\n");
}
