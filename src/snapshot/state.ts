/**
 * The state-save interface every part of a machine implements for snapshots (Firecracker's
 * `Persist` trait, one per device): `saveState` returns a plain JSON value holding everything the
 * part needs to continue exactly where it stopped, `restoreState` takes that value back on a part
 * built from the same spec. Typed arrays travel as arrays of numbers, 64-bit values as decimal
 * strings; the one snapshot file holding them is checksummed as a whole (format.ts).
 *
 * A part whose state cannot be saved (a host connection that cannot be carried over) does not
 * implement it: a snapshot of a machine holding one is refused, naming it (write.ts).
 */
import { CorralError } from "../errors.js";

/** A JSON object. */
export type SavedState = { readonly [key: string]: Json };
export type Json = null | boolean | number | string | readonly Json[] | SavedState;

export interface Snapshottable {
  saveState(): SavedState;
  /** Continue from `s` (what saveState of an identical part returned); throws SnapshotError if malformed. */
  restoreState(s: SavedState): void;
}

export function isSnapshottable(x: object): x is Snapshottable {
  const o = x as Partial<Snapshottable>;
  return typeof o.saveState === "function" && typeof o.restoreState === "function";
}

/** Every way a snapshot or restore is refused. */
export type SnapshotErrorCode =
  | "SNAPSHOT_UNSUPPORTED"
  | "SNAPSHOT_EXISTS"
  | "SNAPSHOT_FAILED"
  | "SNAPSHOT_NOT_FOUND"
  | "SNAPSHOT_VERSION"
  | "SNAPSHOT_CORRUPT"
  | "SNAPSHOT_DISK_CHANGED"
  | "BAD_FORK_COUNT"
  | "NO_SUCH_DEVICE"
  | "FORK_NO_MEMORY";

export class SnapshotError extends CorralError<SnapshotErrorCode> {}

/** A corrupt part: one line naming it. */
export function corrupt(what: string): SnapshotError {
  return new SnapshotError("SNAPSHOT_CORRUPT", `snapshot state is damaged (${what}); take the snapshot again`);
}

/** `s[key]` as a number, or SNAPSHOT_CORRUPT. */
export function num(s: SavedState, key: string): number {
  const v = s[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw corrupt(`${key} is not a number`);
  return v;
}
export function bool(s: SavedState, key: string): boolean {
  const v = s[key];
  if (typeof v !== "boolean") throw corrupt(`${key} is not a boolean`);
  return v;
}
export function str(s: SavedState, key: string): string {
  const v = s[key];
  if (typeof v !== "string") throw corrupt(`${key} is not a string`);
  return v;
}
export function big(s: SavedState, key: string): bigint {
  const v = str(s, key);
  if (!/^-?\d+$/.test(v)) throw corrupt(`${key} is not an integer`);
  return BigInt(v);
}
export function obj(s: SavedState, key: string): SavedState {
  const v = s[key];
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw corrupt(`${key} is not an object`);
  return v as SavedState;
}
export function list(s: SavedState, key: string): readonly Json[] {
  const v = s[key];
  if (!Array.isArray(v)) throw corrupt(`${key} is not a list`);
  return v as readonly Json[];
}
export function nums(s: SavedState, key: string): number[] {
  const v = list(s, key);
  if (!v.every((x) => typeof x === "number" && Number.isFinite(x))) throw corrupt(`${key} is not a list of numbers`);
  return v as number[];
}

type Typed = Uint8Array | Uint32Array | Int32Array | Float64Array;

/** A typed array as a JSON list. */
export function arr(a: Typed): number[] {
  return Array.from(a);
}

/** Fill `into` from the list `s[key]`, which must have its exact length. */
export function fill(into: Typed, s: SavedState, key: string): void {
  const v = nums(s, key);
  if (v.length !== into.length) throw corrupt(`${key} holds ${v.length} values, not ${into.length}`);
  into.set(v);
}
