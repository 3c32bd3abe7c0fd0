/**
 * Restoring a snapshot (`corral restore DIR [--name N]`): everything is checked before anything
 * starts (format version, every part's size and SHA-256, the disks' bases), then a VM process
 * builds the same machine from the snapshot's spec without booting (src/vm/compose.ts, restore),
 * maps RAM copy-on-write from the snapshot's file, restores the harts' and devices' state and
 * runs on. The guest's clock goes on from the snapshot's time (Machine.restoreState); its wall
 * clock is set again through the agent (src/vm/daemon.ts).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Machine } from "../machine/machine.js";
import { parseVmSpec, type VmSpec } from "../vm/spec.js";
import { checkBase, restoreDisk } from "./disks.js";
import { checkPart, damaged, ramUnchanged, readManifest, SNAPSHOT_FILES, type Manifest } from "./format.js";
import { corrupt, list, num, obj, str, type SavedState } from "./state.js";
import { isSnapshottable } from "./state.js";

export interface CheckedSnapshot {
  dir: string;
  manifest: Manifest;
  spec: VmSpec;
}

/**
 * Check the snapshot in `dirArg` whole: manifest, parts (RAM re-hashed unless it is the very file
 * its writer hashed, or `trustRam`: a fork's own snapshot), disk bases.
 */
export function checkSnapshot(dirArg: string, o: { trustRam?: boolean } = {}): CheckedSnapshot {
  const dir = resolve(dirArg);
  const manifest = readManifest(dir);
  checkPart(dir, manifest.state);
  checkPart(dir, manifest.ram, o.trustRam === true || ramUnchanged(dir, manifest));
  if (manifest.ramOverlay) checkPart(dir, manifest.ramOverlay, o.trustRam === true);
  for (const d of manifest.disks) if (d.overlay) checkPart(dir, d.overlay);
  let spec: VmSpec;
  try {
    spec = parseVmSpec(manifest.spec);
  } catch (e) {
    throw damaged(dir, `its VM spec is not valid here (${e instanceof Error ? e.message : String(e)})`);
  }
  if (spec.memory !== manifest.ram.size) throw damaged(dir, "RAM size differs from the VM's memory");
  for (const d of manifest.disks) {
    if (spec.devices[d.device]?.kind !== "blk") throw damaged(dir, `disk ${d.device} is not a disk of its spec`);
    checkBase(dir, d);
  }
  return { dir, manifest, spec };
}

/** The spec's devices with each disk replaced by the restore's own (new overlays in `vmDisks`). */
export function restoreDevices(s: CheckedSnapshot, vmDisks: string): VmSpec["devices"] {
  const devices = [...s.spec.devices];
  for (const part of s.manifest.disks) {
    const d = devices[part.device]!;
    if (d.kind !== "blk") continue;
    const disk = restoreDisk(s.dir, part, vmDisks);
    devices[part.device] = {
      kind: "blk",
      ...(d.name !== undefined ? { name: d.name } : {}),
      path: disk.path,
      format: disk.format,
      ...(disk.readOnly ? { readOnly: true } : {}),
      // The limits it was saved with (write.ts): a restored VM runs with those, as a NIC does.
      ...(d.limit !== undefined ? { limit: d.limit } : {}),
    };
  }
  return devices;
}

/** The snapshot's state file, parsed (its checksum was checked by checkSnapshot). */
export function readState(dir: string): SavedState {
  try {
    return JSON.parse(readFileSync(join(dir, SNAPSHOT_FILES.state), "utf8")) as SavedState;
  } catch {
    throw damaged(dir, `${SNAPSHOT_FILES.state} is not JSON`);
  }
}

/** Put `state` (machineState's) back into a machine built from the same spec; returns the host part. */
export function restoreMachine(m: Machine, state: SavedState): SavedState {
  const harts = list(state, "harts");
  if (harts.length !== m.harts.length) throw corrupt(`${harts.length} harts saved, the VM has ${m.harts.length}`);
  const devices = m.bus.devices();
  const mmio = list(state, "mmio");
  if (mmio.length !== devices.length) throw corrupt(`${mmio.length} devices saved, the VM has ${devices.length}`);
  mmio.forEach((j, i) => {
    const saved = j as SavedState;
    const d = devices[i]!;
    if (str(saved, "name") !== d.name || !isSnapshottable(d)) throw corrupt(`device ${i} is not ${d.name}`);
    d.restoreState(obj(saved, "state"));
  });
  harts.forEach((h, i) => m.harts[i]!.restoreState(h as SavedState));
  const machine = obj(state, "machine");
  m.restoreState({ ticks: num(machine, "ticks"), retired: num(machine, "retired") });
  return obj(state, "host");
}
