/**
 * Fifty clones (issue 16 item 6): one idle default guest of 256 MiB, forked into COUNT clones
 * running at once (`vm.fork({ count })`), every clone answering `exec true`; the summed PSS of
 * the clones' host processes, first with the page sharing a fork has by itself (every clone maps
 * the fork's RAM file MAP_PRIVATE: unwritten pages are one page-cache page for all), of a parent
 * without --share-memory (its RAM a memory file the fork links) and of one with it, then once
 * the host's KSM has merged what is identical (the parent runs with --share-memory, so its clones
 * offer their RAM too). The reference: the parent's own PSS times COUNT, what COUNT VMs booted
 * apart would hold. Takes minutes: not in the default set (`npm run bench -- clones`).
 *
 * Every clone is stopped however the run ends: on an error, and on SIGINT/SIGTERM (also while
 * the fork is under way, when the clones' names are not known yet: every VM named after the
 * parent, `PARENT-xxxxxx`, is one of this run's; src/bench/cleanup.ts). The host's KSM settings
 * are put back.
 */
import { Corral, type Vm } from "../api/index.js";
import { ksmAvailable, ksmStatus, setKsm } from "../sys/ksm.js";
import { pssOf } from "../sys/smaps.js";
import { listVms } from "../vm/state.js";
import { onInterrupt, stopBenchVms } from "./cleanup.js";

const MEMORY_MIB = 256;
/** Seconds the clones settle after their first answered exec before they are measured. */
const SETTLE_S = 10;
/** Longest wait for ksmd to settle, in seconds. */
const KSM_MAX_S = 300;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

function pidsOf(vms: readonly Vm[]): number[] {
  const recs = new Map(listVms().map((r) => [r.name, r.pid]));
  return vms.map((v) => {
    const pid = recs.get(v.name);
    if (pid === undefined) throw new Error(`VM ${v.name} is not running`);
    return pid;
  });
}

/** ksmd's pages_sharing once it stops rising (two equal readings 10 s apart), at most `maxS` seconds. */
async function ksmSettled(maxS: number): Promise<number> {
  let last = -1;
  for (let t = 0; t < maxS; t += 10) {
    await sleep(10_000);
    const now = ksmStatus().pagesSharing;
    if (now === last && now > 0) return now;
    last = now;
  }
  return last;
}

interface Forked {
  clones: Vm[];
  parentPss: number;
  /** The parent's PSS once its clones run (pages it shares with them are split). */
  parentAfter: number;
  clonesPss: number;
  forkedMs: number;
  readyMs: number;
}

/** Boot a parent, fork it into `count` clones that each answer `exec true`, and sum their PSS. */
async function forkAndMeasure(name: string, count: number, shareMemory: boolean): Promise<Forked> {
  const parent = await Corral.start({ name, memory: `${MEMORY_MIB}M`, shareMemory });
  await parent.exec(["true"]);
  await sleep(SETTLE_S * 1000);
  const [parentPid] = pidsOf([parent]);
  const parentPss = pssOf([parentPid!]);
  const t0 = performance.now();
  const clones = await parent.fork({ count });
  const forkedMs = performance.now() - t0;
  const answered = await Promise.all(clones.map(async (c) => (await c.exec(["true"])).exitCode === 0));
  const readyMs = performance.now() - t0;
  if (answered.some((ok) => !ok)) throw new Error("a clone's exec true failed");
  await sleep(SETTLE_S * 1000);
  return {
    clones,
    parentPss,
    parentAfter: pssOf([parentPid!]),
    clonesPss: pssOf(pidsOf(clones)),
    forkedMs,
    readyMs,
  };
}

export async function benchClones(count = 50): Promise<string> {
  const name = `bench-clones-${process.pid}`;
  const saved = ksmAvailable() ? ksmStatus() : undefined;
  const restoreKsm = (): void => {
    if (saved !== undefined && process.getuid?.() === 0) {
      setKsm({ run: 2, pagesToScan: saved.pagesToScan, sleepMs: saved.sleepMs });
      if (saved.run !== 2) setKsm({ run: saved.run as 0 | 1 });
    }
  };
  // Interrupted: the clones are stopped by the handler (main.ts), the KSM settings put back here.
  const release = onInterrupt(restoreKsm);
  try {
    // First a parent without --share-memory: its RAM is a memory file, which its fork links and
    // its clones map (src/machine/memory.ts freezeFile); then one with it (RAM anonymous and
    // offered to KSM, written out at the fork), for the rows with and without KSM.
    const linked = await forkAndMeasure(`${name}-linked`, count, false);
    const linkedRow = `| the fork's own, a parent without \`--share-memory\` (its RAM a memory file, linked at the fork; the parent's own PSS went from ${mib(linked.parentPss)} to ${mib(linked.parentAfter)}) | ${gib(linked.clonesPss)} | ${mib(linked.clonesPss / count)} | ${(linked.clonesPss / (linked.parentPss * count)).toFixed(2)}x |`;
    await stopBenchVms();
    const f = await forkAndMeasure(name, count, saved !== undefined);
    const { parentPss, clonesPss: without } = f;
    const rows = [
      `### ${count} clones of one idle ${MEMORY_MIB} MiB VM, running at once, each answering \`exec true\``,
      "",
      `\`vm.fork({ count: ${count} })\` took ${(f.forkedMs / 1000).toFixed(1)} s to return and ${(f.readyMs / 1000).toFixed(1)} s until every clone had answered (a parent without --share-memory: ${(linked.forkedMs / 1000).toFixed(1)} s and ${(linked.readyMs / 1000).toFixed(1)} s); summed PSS of the ${count} clones' processes after ${SETTLE_S} s idle (target <= 8 GiB):`,
      "",
      "| page sharing | total PSS | per clone | ratio (to the reference) |",
      "|---|---|---|---|",
      `| reference: the parent's own PSS (${mib(parentPss)}) x ${count}, ${count} VMs booted apart | ${gib(parentPss * count)} | ${mib(parentPss)} | 1.00x |`,
      linkedRow,
      `| the fork's own, a parent with \`--share-memory\` (RAM written out at the fork, mapped MAP_PRIVATE from one file; the parent's own PSS went from ${mib(parentPss)} to ${mib(f.parentAfter)}) | ${gib(without)} | ${mib(without / count)} | ${(without / (parentPss * count)).toFixed(2)}x |`,
    ];
    const pids = pidsOf(f.clones);
    if (saved !== undefined && process.getuid?.() === 0) {
      setKsm({ run: 1, pagesToScan: 1000, sleepMs: 20 });
      const sharing = await ksmSettled(KSM_MAX_S);
      const withKsm = pssOf(pids);
      rows.push(
        `| and KSM (\`--share-memory\`, \`corral host ksm on\`, once ksmd settled: pages_sharing ${sharing}) | ${gib(withKsm)} | ${mib(withKsm / count)} | ${(withKsm / (parentPss * count)).toFixed(2)}x |`,
      );
    } else rows.push("| and KSM | (skipped: needs root and a kernel with KSM) | | |");
    return [...rows, ""].join("\n");
  } finally {
    restoreKsm();
    await stopBenchVms();
    release();
  }
}
