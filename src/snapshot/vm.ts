/**
 * Snapshots of VMs by name, shared by the CLI (`corral snapshot`, `corral restore`) and the API:
 * the checks a user's input needs (one line each, nothing left behind), then the VM process does
 * the work (src/snapshot/write.ts through its control socket; a new VM process for a restore).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { VmClient } from "../vm/client.js";
import type { SnapshotInfo } from "../vm/control/protocol.js";
import { launchVm, randomName, type LaunchOptions } from "../vm/launch.js";
import { checkName } from "../vm/state.js";
import { checkSnapshot } from "./restore.js";
import { SnapshotError } from "./state.js";
import type { VmSpec } from "../vm/spec.js";
import type { RateLimitSpec } from "../devices/kinds/limit.js";
import { epochMs } from "../vm/phases.js";

/** Snapshot the running VM `name` into `dir` (which must not exist yet). */
export async function snapshotVm(name: string, dir: string, o: { home?: string } = {}): Promise<SnapshotInfo> {
  const abs = resolve(dir);
  const client = new VmClient(name, o.home);
  client.record(); // VM_NOT_RUNNING: one line
  if (existsSync(abs))
    throw new SnapshotError("SNAPSHOT_EXISTS", `${abs} already exists: give a new directory for the snapshot`, {
      exitCode: 2,
    });
  return client.snapshot(abs);
}

export interface RestoreOptions {
  /** The new VM's name (default a random one). */
  name?: string | undefined;
  home?: string | undefined;
  /** Set the guest's hostname to this once it runs (fork: its name). */
  hostname?: string | undefined;
  /** Do not re-hash RAM (a fork's own snapshot, just written by this host). */
  trustRam?: boolean | undefined;
  /** The new VM's devices from the snapshot's (fork: clone-net.ts cloneDevices). */
  devices?: ((d: VmSpec["devices"]) => VmSpec["devices"]) | undefined;
  /**
   * Rate limits for the new VM's disks and NICs by device name (vda, eth0), instead of those the
   * snapshotted VM had in force; null for none. The others keep theirs.
   */
  limits?: Record<string, RateLimitSpec | null> | undefined;
  /** When the restore (or the fork it is part of) was called, epoch ms: its phase timings start there (src/vm/phases.ts). */
  calledAt?: number | undefined;
  /** A first command sent with a pool process's claim (src/vm/first-exec.ts, launch.ts LaunchOptions.first). */
  first?: LaunchOptions["first"];
}

/** `devices` with the limits of `limits` (by device name); NO_SUCH_DEVICE for a name none has. */
export function withLimits(
  devices: VmSpec["devices"],
  limits: Record<string, RateLimitSpec | null>,
): VmSpec["devices"] {
  const named = devices.flatMap((d) =>
    (d.kind === "blk" || d.kind === "net") && d.name !== undefined ? [d.name] : [],
  );
  for (const n of Object.keys(limits))
    if (!named.includes(n))
      throw new SnapshotError(
        "NO_SUCH_DEVICE",
        `no disk or NIC named '${n}' in this snapshot: it has ${named.length > 0 ? named.join(", ") : "none"}`,
        { exitCode: 2 },
      );
  return devices.map((d) => {
    if ((d.kind !== "blk" && d.kind !== "net") || d.name === undefined || !(d.name in limits)) return d;
    const { limit: _old, ...rest } = d;
    const limit = limits[d.name];
    return limit ? { ...rest, limit } : rest;
  });
}

/** Start a VM from the snapshot in `dir`; resolves once it answers, with a client for it. */
export async function restoreVm(dir: string, o: RestoreOptions = {}): Promise<VmClient> {
  const calledAt = o.calledAt ?? epochMs();
  const name = o.name ?? randomName();
  checkName(name);
  const checked = checkSnapshot(dir, { trustRam: o.trustRam === true });
  let devices = o.devices ? o.devices(checked.spec.devices) : checked.spec.devices;
  if (o.limits) devices = withLimits(devices, o.limits);
  const snap = { ...checked, spec: { ...checked.spec, devices } };
  return launchVm(
    { ...snap.spec, name },
    {
      home: o.home,
      first: o.first,
      restore: { ...snap, calledAt, ...(o.hostname !== undefined ? { hostname: o.hostname } : {}) },
    },
  );
}
