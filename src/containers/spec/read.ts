import { CorralError } from "../../errors.js";
import { ContainerError } from "../errors.js";

/**
 * Typed readers for untrusted JSON: each names the field it rejects, so an invalid config.json
 * gets "config.json: linux.resources.memory.limit must be an integer" and not a stack trace.
 */
export function invalid(path: string, what: string): CorralError {
  return new ContainerError("OCI_CONFIG_INVALID", `config.json: ${path} ${what}; fix the bundle's config.json`);
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw invalid(path, "must be an object");
  return v;
}

export function optObj(o: Obj, key: string, path: string): Obj | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : obj(v, `${path}.${key}`);
}

export function str(v: unknown, path: string): string {
  if (typeof v !== "string") throw invalid(path, "must be a string");
  return v;
}

export function optStr(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : str(v, `${path}.${key}`);
}

export function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw invalid(`${path}.${key}`, "must be true or false");
  return v;
}

export function int(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalid(path, "must be an integer");
  if (v < min || v > max) throw invalid(path, `must be between ${min} and ${max} (got ${v})`);
  return v;
}

export function optInt(o: Obj, key: string, path: string, min?: number, max?: number): number | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : int(v, `${path}.${key}`, min, max);
}

export function arr(o: Obj, key: string, path: string): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${path}.${key}`, "must be an array");
  return v;
}

export function strArr(o: Obj, key: string, path: string): string[] {
  return arr(o, key, path).map((v, i) => str(v, `${path}.${key}[${i}]`));
}

export function strMap(o: Obj, key: string, path: string): Record<string, string> {
  const m = optObj(o, key, path) ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k] = str(v, `${path}.${key}.${k}`);
  return out;
}
