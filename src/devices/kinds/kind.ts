/**
 * What one kind of device is to the VM spec and the composition step (src/vm/compose.ts): the
 * schema of its entry in a spec's `devices`, the name the guest knows it by, and how to open it.
 * A kind file holds no device code of its own: `open` loads the device's module when a VM is
 * built, so that a client that only validates a spec (the API, `corral run -d`) loads none.
 */
import type * as z from "zod/mini";
import type { VirtioDevice } from "../virtio/device.js";

/** What opening a device needs besides its own entry. */
export interface OpenContext {
  /** Its index among the spec's devices of the same kind (vda, vdb, ...; eth0, eth1, ...). */
  index: number;
  /** Corral's state directory ($CORRAL_HOME): where switches and their leases live. */
  home: string;
}

export interface Opened {
  device: VirtioDevice;
  /** Kernel command-line parameters the device wants ("ip=dhcp"), each dropped if the line already sets it. */
  cmdline?: string[];
}

export interface DeviceKind<S extends z.ZodMiniObject = z.ZodMiniObject> {
  /** The spec entry: a strict object whose `kind` is this kind's literal. */
  schema: S;
  /** The device's name when its entry gives none (index as in OpenContext). */
  defaultName(index: number): string;
  open(spec: z.output<S>, ctx: OpenContext): Promise<Opened>;
}

/** Declare a kind with its types checked against its schema. */
export function deviceKind<S extends z.ZodMiniObject>(k: DeviceKind<S>): DeviceKind<S> {
  return k;
}
