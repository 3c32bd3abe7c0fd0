/**
 * Fork (`corral fork NAME --count N`, `vm.fork()`): N running clones of a running VM that share
 * its memory copy-on-write. The VM is snapshotted into a directory on tmpfs (/dev/shm: its RAM
 * file lives in the page cache), and N restores map that file MAP_PRIVATE: every page no clone
 * writes stays one page of host memory for all of them. Each clone gets its own identity: its
 * name, that name as its hostname, a new VM generation ID (the guest's kernel reseeds its RNG,
 * src/devices/vmgenid.ts), its own disk overlays, and on a switch or a TAP its own MAC, port or
 * TAP device and DHCP lease (clone-net.ts). The snapshot's directory is removed once the
 * clones run: their mappings keep the RAM file's pages. forkEach hands each clone over as it
 * runs (with a first command sent along, run the moment it runs); forkVm waits for all.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { freemem } from "node:os";
import { join } from "node:path";
import { VmClient } from "../vm/client.js";
import { stopVm } from "../vm/launch.js";
import { checkName, vmDir } from "../vm/state.js";
import { formatMiB } from "../size.js";
import { restoreVm } from "./vm.js";
import { cloneDevices } from "./clone-net.js";
import { SnapshotError } from "./state.js";
import { epochMs } from "../vm/phases.js";
import type { FirstExec, FirstExecResult } from "../vm/first-exec.js";

/** Most clones one fork makes. */
export const MAX_FORK = 64;
/** Where fork snapshots go: tmpfs, so RAM is shared through the page cache and never hits a disk. */
const FORK_ROOT = existsSync("/dev/shm") ? "/dev/shm" : "/tmp";

/** Refuse a count before anything starts: a whole number from 1 to MAX_FORK that the host's free memory holds. */
export function checkForkCount(count: number, memory: number, free = freemem()): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORK)
    throw new SnapshotError(
      "BAD_FORK_COUNT",
      `--count must be a whole number from 1 to ${MAX_FORK} (got ${String(count)})`,
      { exitCode: 2 },
    );
  // Clones share their parent's pages until they write them; each may come to write all of them.
  if (count * memory > free)
    throw new SnapshotError(
      "FORK_NO_MEMORY",
      `${count} clones of ${formatMiB(memory)} could need ${formatMiB(count * memory)}, more than the host's free memory (${formatMiB(free)}): fork fewer`,
      { exitCode: 2 },
    );
}

/** Clone names: NAME-xxxxxx, new each time. */
function cloneName(name: string): string {
  const n = `${name}-${randomBytes(3).toString("hex")}`;
  checkName(n);
  return n;
}

/** A clone handed over by forkEach: its client, and its first command's outcome when it went with the claim. */
export interface ForkedClone {
  client: VmClient;
  /**
   * The first command's outcome (src/vm/first-exec.ts), when a pool process took the clone's claim
   * with it; undefined here means the caller runs it itself. Resolves undefined if the clone's
   * process ended without answering it.
   */
  first?: Promise<FirstExecResult | undefined>;
}

/** Stop a clone no one was handed (or that the caller will not get), and remove its directory. */
async function discard(name: string, home: string | undefined): Promise<void> {
  await stopVm(name, { home, timeoutMs: 1000 }).catch(() => {});
  rmSync(vmDir(name, home), { recursive: true, force: true });
}

/**
 * Fork the running VM `name` into `count` clones and hand each over as soon as it runs, in the
 * order they come (the clones restore at once, side by side). Bad input (a count out of range
 * or beyond the host's free memory, a VM not running) throws before anything starts. A clone
 * that fails to start leaves nothing behind: the others are handed over as they come, then the
 * first failure is thrown; the clones already handed over and the parent run on. A caller that
 * stops iterating early (break, a throw) gets the clones it was not handed stopped and removed.
 * `first`: a command each clone runs the moment it runs (ForkedClone.first).
 */
export async function* forkEach(
  name: string,
  count: number,
  o: { home?: string | undefined; first?: FirstExec | undefined } = {},
): AsyncGenerator<ForkedClone, void, undefined> {
  const calledAt = epochMs();
  const parent = new VmClient(name, o.home);
  const rec = parent.record();
  checkForkCount(count, rec.memory);
  const names = Array.from({ length: count }, () => cloneName(name));
  const tmp = mkdtempSync(join(FORK_ROOT, `corral-fork-${name}-`));
  const dir = join(tmp, "snapshot");
  try {
    // RAM in a memory file is frozen and linked, not written (write.ts linkRam): the parent goes
    // on in a private copy-on-write mapping of it, the clones map it privately too.
    await parent.snapshot(dir, { hashRam: false, linkRam: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  type Settled = { i: number; clone: ForkedClone } | { i: number; error: unknown };
  const starts = names.map((n, i): Promise<Settled> => {
    let first: Promise<FirstExecResult | undefined> | undefined;
    const sent = (p: Promise<FirstExecResult | undefined>): void => {
      first = p;
    };
    return restoreVm(dir, {
      name: n,
      home: o.home,
      hostname: n,
      trustRam: true,
      devices: cloneDevices,
      calledAt,
      ...(o.first ? { first: { req: o.first, sent } } : {}),
    }).then(
      (client) => ({ i, clone: { client, ...(first ? { first } : {}) } }),
      (error: unknown) => ({ i, error }),
    );
  });
  // The snapshot's directory goes once every clone has mapped its RAM (or failed), whatever the caller does.
  const removed = Promise.all(starts).then(() => rmSync(tmp, { recursive: true, force: true }));
  const waiting = new Map(starts.map((p, i) => [i, p]));
  let failure: { error: unknown } | undefined;
  try {
    while (waiting.size > 0) {
      const s = await Promise.race(waiting.values());
      waiting.delete(s.i);
      if ("clone" in s) yield s.clone;
      else failure ??= { error: s.error };
    }
  } finally {
    // Left early: the clones not handed over are the fork's to stop.
    await Promise.all(
      [...waiting.values()].map(async (p) => {
        const s = await p;
        if ("clone" in s) await discard(s.clone.client.name, o.home);
      }),
    );
    await removed;
  }
  if (failure) throw failure.error;
}

/**
 * Fork the running VM `name` into `count` clones; resolves with their clients once every clone
 * runs. All or nothing: if one fails, the others are stopped and removed.
 */
export async function forkVm(name: string, count: number, o: { home?: string } = {}): Promise<VmClient[]> {
  const clones: VmClient[] = [];
  try {
    for await (const c of forkEach(name, count, o)) clones.push(c.client);
  } catch (e) {
    await Promise.all(clones.map((c) => discard(c.name, o.home)));
    throw e;
  }
  return clones;
}
