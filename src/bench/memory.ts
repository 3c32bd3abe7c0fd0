/**
 * Host memory and CPU of idle VMs (issue 16 items 1, 2, 6): one booted, idle default guest with
 * 256 MiB under Corral beside QEMU booting the same kernel and initramfs with the same memory
 * (`qemu-system-riscv64 -M virt -m 256`, the guest agent on a virtio-serial port as in exec.ts,
 * so both have booted as far as the agent's hello); then VMS Corral VMs with --share-memory,
 * their summed PSS before and after the host's KSM has merged them. The host's KSM settings are
 * restored at the end. Returns markdown for docs/benchmarks.md ("Lean VMs and shared pages").
 */
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { Corral, type Vm } from "../api/index.js";
import { DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import { ksmAvailable, ksmStatus, setKsm } from "../sys/ksm.js";
import { cpuSeconds } from "../sys/proc.js";
import { pssOf, readRollup } from "../sys/smaps.js";
import { AGENT_PORT_NAME, LineSplitter, parseAgentLine } from "../vm/agent/protocol.js";
import { listVms } from "../vm/state.js";
import { killOnInterrupt, tempDir } from "./cleanup.js";

const MEMORY_MIB = 256;
/** Seconds an idle guest settles after its agent answered before it is measured. */
const SETTLE_S = 10;
/**
 * Seconds over which idle CPU is measured: an idle minute. V8's memory reducer runs one full
 * collection 8 to 25 s after the boot's own (a timer V8 arms after every mark-compact; ~0.1 to
 * 0.15 s of CPU, once), so a 10 s window measured either that one-off or nothing, 0.3 to 1.9 %
 * between runs of one tree; a minute includes it and shows what an idle VM costs the host
 * (docs/benchmarks.md, "Idle CPU: the memory reducer's one collection").
 */
const CPU_S = 60;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Idle {
  rss: number;
  pss: number;
  /** Share of one host core, percent. */
  cpu: number;
}

/** RSS, PSS, and CPU over CPU_S seconds, of process `pid` after SETTLE_S seconds. */
async function measureIdle(pid: number): Promise<Idle> {
  await sleep(SETTLE_S * 1000);
  const r = readRollup(pid);
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(CPU_S * 1000);
  const cpu = ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
  return { rss: r?.["Rss"] ?? 0, pss: r?.["Pss"] ?? 0, cpu };
}

/** QEMU booted to the guest agent's hello, measured idle. */
async function qemuIdle(): Promise<Idle> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-mem-");
  const sock = join(dir, "agent.sock");
  const qemu = spawn(
    "qemu-system-riscv64",
    [
      ...["-M", "virt", "-smp", "1", "-m", String(MEMORY_MIB), "-nographic", "-no-reboot"],
      ...["-global", "virtio-mmio.force-legacy=false", "-kernel", img.kernel, "-initrd", img.initramfs],
      ...["-append", DEFAULT_CMDLINE, "-device", "virtio-serial-device"],
      ...["-chardev", `socket,id=ag,path=${sock},server=on,wait=off`],
      ...["-device", `virtserialport,chardev=ag,name=${AGENT_PORT_NAME}`],
    ],
    { stdio: "ignore" },
  );
  killOnInterrupt(qemu);
  try {
    for (let i = 0; i < 600 && !existsSync(sock); i++) await sleep(100);
    const s = createConnection(sock);
    await new Promise<void>((resolve, reject) => {
      const lines = new LineSplitter((line) => {
        if (parseAgentLine(line)?.kind === "hello") resolve();
      });
      s.on("data", (b: Buffer) => lines.push(b));
      s.on("error", reject);
    });
    const idle = await measureIdle(qemu.pid!);
    s.destroy();
    return idle;
  } finally {
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

function pidOf(vm: Vm): number {
  const rec = listVms().find((r) => r.name === vm.name);
  if (!rec) throw new Error(`VM ${vm.name} is not running`);
  return rec.pid;
}

/** `count` VMs started together; stopped however `body` ends. */
async function withVms<T>(count: number, shareMemory: boolean, body: (vms: Vm[]) => Promise<T>): Promise<T> {
  const names = Array.from({ length: count }, (_, i) => `bench-mem-${process.pid}-${i}`);
  const started = await Promise.allSettled(
    names.map((name) => Corral.start({ name, memory: `${MEMORY_MIB}M`, shareMemory })),
  );
  const vms = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    return await body(vms);
  } finally {
    await Promise.all(vms.map((v) => v.remove({ force: true })));
  }
}

/** ksmd's pages_sharing once it stops rising (two equal readings 5 s apart), at most `maxS` seconds. */
async function ksmSettled(maxS: number): Promise<number> {
  let last = -1;
  for (let t = 0; t < maxS; t += 5) {
    await sleep(5000);
    const now = ksmStatus().pagesSharing;
    if (now === last && now > 0) return now;
    last = now;
  }
  return last;
}

const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

export async function benchMemory(vmsWithKsm = 3): Promise<string> {
  const q = await qemuIdle();
  const c = await withVms(1, false, async ([vm]) => measureIdle(pidOf(vm!)));
  const out = [
    `### Lean VMs: one idle VM (default guest booted to its agent, ${MEMORY_MIB} MiB, 1 hart; after ${SETTLE_S} s idle)`,
    "",
    "| | Corral | qemu-system-riscv64 -M virt | ratio (Corral / QEMU) |",
    "|---|---|---|---|",
    `| RSS | ${mb(c.rss)} | ${mb(q.rss)} | ${(c.rss / q.rss).toFixed(2)}x |`,
    `| PSS | ${mb(c.pss)} | ${mb(q.pss)} | ${(c.pss / q.pss).toFixed(2)}x |`,
    `| CPU while idle (${CPU_S} s, share of one core) | ${c.cpu.toFixed(2)} % | ${q.cpu.toFixed(2)} % | ${(c.cpu / q.cpu).toFixed(2)}x |`,
    "",
  ];
  if (!ksmAvailable() || process.getuid?.() !== 0) {
    out.push("(KSM figures skipped: they need root and a kernel with KSM.)", "");
    return out.join("\n");
  }
  const saved = ksmStatus();
  try {
    const [without, withKsm, sharing] = await withVms(vmsWithKsm, true, async (vms) => {
      await sleep(SETTLE_S * 1000);
      const pids = vms.map(pidOf);
      const before = pssOf(pids);
      setKsm({ run: 1, pagesToScan: 1000, sleepMs: 20 });
      const pages = await ksmSettled(180);
      return [before, pssOf(pids), pages];
    });
    out.push(
      `### Shared pages: ${vmsWithKsm} idle VMs with --share-memory (${MEMORY_MIB} MiB each), summed PSS of their processes`,
      "",
      "| KSM off | KSM on (`corral host ksm on`, once ksmd settled) | ratio (on / off) | pages_sharing |",
      "|---|---|---|---|",
      `| ${mb(without)} | ${mb(withKsm)} | ${(withKsm / without).toFixed(2)}x | ${sharing} (${mb(sharing * 4096)} saved) |`,
      "",
    );
  } finally {
    setKsm({ run: 2, pagesToScan: saved.pagesToScan, sleepMs: saved.sleepMs });
    if (saved.run !== 2) setKsm({ run: saved.run as 0 | 1 });
  }
  return out.join("\n");
}
