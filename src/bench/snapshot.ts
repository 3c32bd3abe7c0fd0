/**
 * Snapshots, restore and fork (issue 16 items 3, 4, 6): one default guest (1 hart, 256 MiB) is
 * booted, its first `exec true` answered (the peer: a fresh boot to its first answered exec,
 * timed from Corral.start), then snapshotted into a directory on tmpfs; each round restores it and
 * times Corral.restore to the first answered `exec true`, and forks it into two clones and times
 * from the fork call to each clone's first answered exec (Vm.forkEach: each clone as it runs,
 * `true` its first command, which a pool process gets with its claim); both once with a new VM process each
 * and once taking warm pool processes (forks with warm processes: a parent's first fork, which
 * links its RAM, and a later one, which links it again with the pages written since) (src/vm/pool.ts: started and warmed up on the snapshot
 * before the timer starts, as a host keeps them). Any pool of this $CORRAL_HOME is stopped first
 * and the bench's own at the end, or on SIGINT/SIGTERM (src/bench/cleanup.ts). Returns markdown for docs/benchmarks.md.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Corral, type Vm } from "../api/index.js";
import { listVms, vmDir } from "../vm/state.js";
import { cpuSeconds } from "../sys/proc.js";
import { qemuRestore } from "./qemu-restore.js";
import { daemonNodeFlags } from "../vm/launch.js";
import { poolMembers, startPool, stopPool } from "../vm/pool.js";
import { onInterrupt, tempDir } from "./cleanup.js";
import { readFileSync } from "node:fs";
import { CPU_PREFIX, parseTimings, TIMINGS_PREFIX } from "../vm/phases.js";

/**
 * The restore's phase timings its VM process logged (src/vm/phases.ts), once its first exec was
 * answered, and the CPU that process had used at each phase's end (CPU_PREFIX): one read of its log.
 */
function phasesOf(vm: Vm): { wall: Record<string, number>; cpu: Record<string, number> } {
  let lines: string[] = [];
  try {
    lines = readFileSync(join(vmDir(vm.name), "console.log"), "latin1").split("\n");
  } catch {
    // no log: no phases
  }
  const parse = (prefix: string): Record<string, number> => {
    // "RAM swapped into the warm machine (N of M code pages changed)": one phase, whatever N.
    const t = parseTimings(lines.find((l) => l.includes(prefix)) ?? "", prefix) ?? {};
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k.replace(/ \(.*\)$/, ""), v]));
  };
  return { wall: parse(TIMINGS_PREFIX), cpu: parse(CPU_PREFIX) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const ms = (x: number): string => `${x.toFixed(0)} ms`;

async function answered(vm: Vm): Promise<void> {
  const r = await vm.exec(["true"]);
  if (r.exitCode !== 0) throw new Error(`exec true in ${vm.name} exited ${r.exitCode}`);
}

/**
 * Wait until the guest's boot has finished: the agent answers before /init starts the console's
 * login shell (src/image/init-script.ts), and a snapshot taken in between holds a shell still
 * starting, which every restore then finishes (about 1.2 M guest instructions beside its first
 * exec). Its prompt (PS1 '\u@\h:\w\$ ') on the console says it is up.
 */
async function bootFinished(vm: Vm): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if (/\w@[\w.-]+:\/# /.test(readFileSync(join(vmDir(vm.name), "console.log"), "latin1"))) return;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${vm.name}: its console shell did not start within a minute`);
}

async function remove(vm: Vm): Promise<void> {
  await vm.stop({ timeoutMs: 2000 }).catch(() => {});
  rmSync(vmDir(vm.name), { recursive: true, force: true });
}

/** Start (or top up) a pool of `size` processes warmed up on `dir`, and wait until all wait. */
async function warmPool(size: number, dir: string): Promise<void> {
  startPool({ size, warm: dir }, daemonNodeFlags());
  for (let i = 0; i < 2400; i++) {
    if (poolMembers().filter((m) => m.ready).length >= size) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the pool's processes did not warm up within 10 minutes");
}

const range = (xs: number[]): string => `min ${ms(Math.min(...xs))}, max ${ms(Math.max(...xs))}`;

export async function benchSnapshot(rounds = 3): Promise<string> {
  await stopPool();
  // Interrupted: the pool's processes go (the VMs are stopped by the handler, main.ts).
  const release = onInterrupt(() => stopPool());
  // Named after this process, so a test interrupting one bench can tell its directory from another's.
  const tmp = tempDir(`corral-bench-snap-${process.pid}-`, "/dev/shm");
  const name = `bench-snap-${process.pid}`;
  const t0 = performance.now();
  const parent = await Corral.start({ name, memory: "256M" });
  const vms: Vm[] = [parent];
  try {
    await answered(parent);
    const boot = performance.now() - t0;
    await bootFinished(parent);
    const dir = join(tmp, "s");
    const ts = performance.now();
    await parent.snapshot(dir);
    const snap = performance.now() - ts;
    // Wall time from the call, and CPU time of the VM's process from the call (a pool process's
    // warm-up before it was taken not counted): CPU is what this loaded machine cannot blur.
    type Timing = {
      wall: number[];
      cpu: number[];
      phases: Record<string, number>[];
      phaseCpu: Record<string, number>[];
    };
    const timing = (): Timing => ({ wall: [], cpu: [], phases: [], phaseCpu: [] });
    const [restore, fork, poolRestore, poolFork, poolForkLater] = [timing(), timing(), timing(), timing(), timing()];
    const cpuOf = (vm: Vm, before: Map<number, number>): number => {
      const pid = listVms().find((r) => r.name === vm.name)?.pid ?? 0;
      return (cpuSeconds(pid) - (before.get(pid) ?? 0)) * 1000;
    };
    const poolCpu = (): Map<number, number> => new Map(poolMembers().map((m) => [m.pid, cpuSeconds(m.pid)]));
    const restoreOnce = async (i: number, into: Timing): Promise<void> => {
      const before = poolCpu();
      const t = performance.now();
      const vm = await Corral.restore(dir, { name: `${name}-r${i}` });
      vms.push(vm);
      await answered(vm);
      into.wall.push(performance.now() - t);
      into.cpu.push(cpuOf(vm, before));
      const ph = phasesOf(vm);
      into.phases.push(ph.wall);
      into.phaseCpu.push(ph.cpu);
      await remove(vms.pop()!);
    };
    const forkOnce = async (into: Timing, of = parent): Promise<void> => {
      const before = poolCpu();
      const f = performance.now();
      // Each clone as it runs (Vm.forkEach), its `exec true` sent with its claim to a pool process
      // (src/vm/first-exec.ts: run right behind its T frame), as an exec request otherwise.
      const clones: Vm[] = [];
      const each: Promise<number>[] = [];
      for await (const c of of.forkEach({ count: 2, first: { argv: ["true"] } })) {
        vms.push(c.vm);
        clones.push(c.vm);
        each.push(
          c.first!.then((r) => {
            if (r.exitCode !== 0) throw new Error(`exec true in ${c.vm.name} exited ${r.exitCode}`);
            return performance.now() - f;
          }),
        );
      }
      into.wall.push(...(await Promise.all(each)));
      into.cpu.push(...clones.map((c) => cpuOf(c, before)));
      const ph = clones.map(phasesOf);
      into.phases.push(...ph.map((x) => x.wall));
      into.phaseCpu.push(...ph.map((x) => x.cpu));
      for (const c of clones) await remove(vms.splice(vms.indexOf(c), 1)[0]!);
    };
    // A VM's first fork links its RAM (a memory file, frozen: src/machine/memory.ts freezeFile);
    // a later fork of it links that file again, with the pages written since beside it. The rows with warm processes fork a parent of their own
    // each round first (booted now, before any timer), then the same parent again; their pool is
    // warmed on that parent's own snapshot, as a host warms its pool on the VMs it forks (a warm
    // machine takes a VM of its very spec, its NIC's MAC included).
    const fresh: { vm: Vm; dir: string }[] = [];
    for (let i = 0; i < rounds; i++) {
      const vm = await Corral.start({ name: `${name}-p${i}`, memory: "256M" });
      vms.push(vm);
      await answered(vm);
      const d = join(tmp, `p${i}`);
      await vm.snapshot(d);
      fresh.push({ vm, dir: d });
    }
    const qemu = await qemuRestore(rounds);
    for (let i = 0; i < rounds; i++) {
      const own = fresh[i]!;
      await restoreOnce(i, restore);
      await forkOnce(fork);
      await warmPool(1, dir);
      await restoreOnce(i, poolRestore);
      await stopPool();
      await warmPool(2, own.dir);
      await forkOnce(poolFork, own.vm);
      await warmPool(2, own.dir);
      await forkOnce(poolForkLater, own.vm);
      await stopPool();
    }
    const q = median(qemu);
    const row = (what: string, x: Timing): string =>
      `| ${what} (${range(x.wall)}) | ${ms(median(x.wall))} | ${ms(median(x.cpu))} | ${ms(q)} | ${(median(x.wall) / q).toFixed(2)}x | ${ms(boot)} | ${(median(x.wall) / boot).toFixed(3)}x |`;
    // Each phase's median end (ms from the call), in the order a restore passes them.
    const order = [
      "checked",
      "taken",
      "snapshot read",
      "RAM swapped into the warm machine",
      "machine built",
      "state restored",
      "serving",
      "clock set",
      "first exec sent",
      "first exec ended",
    ];
    const cell = (x: Timing, p: string, cpu = false): string => {
      const v = (cpu ? x.phaseCpu : x.phases).flatMap((t) => (t[p] !== undefined ? [t[p]] : []));
      return v.length > 0 ? ms(median(v)) : "";
    };
    // A phase no VM process marked itself ("checked": the caller's) has no CPU row.
    const phaseRows = (cpu: boolean): string[] =>
      order.flatMap((p) => {
        const cells = [restore, poolRestore, fork, poolFork, poolForkLater].map((x) => cell(x, p, cpu));
        return cells.some((c) => c !== "") ? [`| ${p} | ${cells.join(" | ")} |`] : [];
      });
    return [
      `### Snapshots, restore and fork (default guest, 1 hart, 256 MiB; median of ${rounds} rounds)`,
      "",
      "Where the time goes: each phase's end, ms from the restore (or fork) call, as the VM process logged it",
      "(src/vm/phases.ts; median over rounds and clones):",
      "",
      "| phase ends | restore, new process | restore, pool | fork, new processes | fork, pool (first fork) | fork, pool (later fork) |",
      "|---|---|---|---|---|---|",
      ...phaseRows(false),
      "",
      "The VM process's own CPU at each phase's end, ms since it began the restore (a pool process: since taken;",
      "src/vm/phases.ts CPU_PREFIX; median): what a loaded host's wall times above cannot tell.",
      "",
      "| phase ends | restore, new process | restore, pool | fork, new processes | fork, pool (first fork) | fork, pool (later fork) |",
      "|---|---|---|---|---|---|",
      ...phaseRows(true),
      "",
      `QEMU: \`qemu-system-riscv64 -incoming "exec:cat STATE"\` of the same guest (256 MiB, the agent on virtio-serial, state saved with \`migrate\`) to its agent's answer to \`exec true\`, ${range(qemu)}.`,
      "",
      "| what | Corral | CPU of the VM's process | peer: QEMU -incoming | ratio (Corral / QEMU) | a fresh boot to its first answered exec | ratio (Corral / boot) |",
      "|---|---|---|---|---|---|---|",
      row("restore of a booted VM to its first answered `exec true`, a new VM process", restore),
      row("the same, taking a warm pool process (`corral pool start --warm`)", poolRestore),
      row(
        "fork --count 2 (`vm.forkEach`, each clone as it runs, `true` its first command): fork call to each clone's first answered `exec true`, new VM processes",
        fork,
      ),
      row(
        "the same, taking warm pool processes (`true` sent with each claim): a parent's first fork (its RAM linked, not written)",
        poolFork,
      ),
      row(
        "the same, a later fork of that parent (its RAM linked again, the pages written since beside it)",
        poolForkLater,
      ),
      `| snapshot of the running VM to tmpfs (RAM hashed) | ${ms(snap)} | | | | | |`,
      "",
    ].join("\n");
  } finally {
    for (const vm of vms.reverse()) await remove(vm);
    await stopPool();
    rmSync(tmp, { recursive: true, force: true });
    release();
  }
}
