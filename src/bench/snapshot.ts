/**
 * Snapshots, restore and fork (issue 16 items 3, 4, 6): one default guest (1 hart, 256 MiB) is
 * booted, its first `exec true` answered (the peer: a fresh boot to its first answered exec,
 * timed from Corral.start), then snapshotted into a directory on tmpfs; each round restores it and
 * times Corral.restore to the first answered `exec true`, and forks it into two clones and times
 * from the fork call to each clone's first answered exec. Returns markdown for
 * docs/benchmarks.md ("Snapshots, restore and fork").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Corral, type Vm } from "../api/index.js";
import { vmDir } from "../vm/state.js";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const ms = (x: number): string => `${x.toFixed(0)} ms`;

async function answered(vm: Vm): Promise<void> {
  const r = await vm.exec(["true"]);
  if (r.exitCode !== 0) throw new Error(`exec true in ${vm.name} exited ${r.exitCode}`);
}

async function remove(vm: Vm): Promise<void> {
  await vm.stop({ timeoutMs: 2000 }).catch(() => {});
  rmSync(vmDir(vm.name), { recursive: true, force: true });
}

export async function benchSnapshot(rounds = 3): Promise<string> {
  const tmp = mkdtempSync(join("/dev/shm", "corral-bench-snap-"));
  const name = `bench-snap-${process.pid}`;
  const t0 = performance.now();
  const parent = await Corral.start({ name, memory: "256M" });
  const vms: Vm[] = [parent];
  try {
    await answered(parent);
    const boot = performance.now() - t0;
    const dir = join(tmp, "s");
    const ts = performance.now();
    await parent.snapshot(dir);
    const snap = performance.now() - ts;
    const restore: number[] = [];
    const fork: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t = performance.now();
      const vm = await Corral.restore(dir, { name: `${name}-r${i}` });
      vms.push(vm);
      await answered(vm);
      restore.push(performance.now() - t);
      await remove(vms.pop()!);

      const f = performance.now();
      const clones = await parent.fork({ count: 2 });
      vms.push(...clones);
      const each = await Promise.all(clones.map(async (c) => (await answered(c), performance.now() - f)));
      fork.push(...each);
      for (const c of clones) await remove(vms.splice(vms.indexOf(c), 1)[0]!);
    }
    const r = median(restore);
    const k = median(fork);
    return [
      `### Snapshots, restore and fork (default guest, 1 hart, 256 MiB; median of ${rounds} rounds)`,
      "",
      "| what | Corral | peer: a fresh boot to its first answered exec | ratio (Corral / peer) |",
      "|---|---|---|---|",
      `| restore of a booted VM to its first answered \`exec true\` (min ${ms(Math.min(...restore))}, max ${ms(Math.max(...restore))}) | ${ms(r)} | ${ms(boot)} | ${(r / boot).toFixed(3)}x |`,
      `| fork --count 2: fork call to each clone's first answered \`exec true\` (min ${ms(Math.min(...fork))}, max ${ms(Math.max(...fork))}) | ${ms(k)} | ${ms(boot)} | ${(k / boot).toFixed(3)}x |`,
      `| snapshot of the running VM to tmpfs (RAM hashed) | ${ms(snap)} | | |`,
      "",
    ].join("\n");
  } finally {
    for (const vm of vms.reverse()) await remove(vm);
    rmSync(tmp, { recursive: true, force: true });
  }
}
