/**
 * Fork (`corral fork NAME --count N`, `vm.fork()`): N running clones of a running VM that share
 * its memory copy-on-write. The VM is snapshotted into a directory on tmpfs (/dev/shm: its RAM
 * file lives in the page cache), and N restores map that file MAP_PRIVATE: every page no clone
 * writes stays one page of host memory for all of them. Each clone gets its own identity: its
 * name, that name as its hostname, a new VM generation ID (the guest's kernel reseeds its RNG,
 * src/devices/vmgenid.ts), its own disk overlays, and on a switch or a TAP its own MAC, port or
 * TAP device and DHCP lease (clone-net.ts). The snapshot's directory is removed once the
 * clones run: their mappings keep the RAM file's pages.
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

/** Fork the running VM `name` into `count` clones; resolves with their clients once every clone runs. */
export async function forkVm(name: string, count: number, o: { home?: string } = {}): Promise<VmClient[]> {
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
    const started = await Promise.allSettled(
      names.map((n) =>
        restoreVm(dir, { name: n, home: o.home, hostname: n, trustRam: true, devices: cloneDevices, calledAt }),
      ),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      // All or nothing: stop the clones that did start.
      await Promise.all(
        started.flatMap((r) =>
          r.status === "fulfilled"
            ? [
                stopVm(r.value.name, { home: o.home, timeoutMs: 1000 })
                  .catch(() => {})
                  .then(() => rmSync(vmDir(r.value.name, o.home), { recursive: true, force: true })),
              ]
            : [],
        ),
      );
      throw failed.reason;
    }
    return started.map((r) => (r as PromiseFulfilledResult<VmClient>).value);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
