/**
 * Every kind of device a VM spec may list (kvmtool's virtio_dev_init list). Adding a device:
 * write its kind file in kinds/ (schema, default name, open) and add one line here; the spec's
 * schema, its JSON Schema and the composition step (src/vm/compose.ts) all follow from this table.
 */
import { balloon } from "./kinds/balloon.js";
import { blk } from "./kinds/blk.js";
import { consoleKind } from "./kinds/console.js";
import { fs } from "./kinds/fs.js";
import { net } from "./kinds/net.js";
import { rng } from "./kinds/rng.js";
import { vsock } from "./kinds/vsock.js";

export const DEVICE_KINDS = {
  blk,
  net,
  console: consoleKind,
  balloon,
  rng,
  vsock,
  fs,
} as const;

export type DeviceKindName = keyof typeof DEVICE_KINDS;
