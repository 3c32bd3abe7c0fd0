/**
 * Sizes, one syntax with one meaning for every verb, the API and the VM spec: a whole or
 * decimal number with a unit K, M, G or T (powers of 1024; an optional trailing "iB" or "B" is
 * allowed), and a bare number means MiB. "512" and "512M" are the same size everywhere.
 */
import { CorralError } from "./errors.js";

/** The one code of a bad size. */
export type SizeErrorCode = "BAD_SIZE";

/** The rule as the --help of every verb that takes a size prints it. */
export const SIZE_HELP = "SIZE is a number with a unit K, M, G or T (powers of 1024); a bare number means MiB";

const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `s` in bytes, or undefined when it is not a size. */
export function sizeBytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(s.trim());
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * UNITS[(m[2] || "M").toUpperCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `s` in bytes, or what is wrong with it ("is negative: ..."), to follow the size's name and `s` in a message. */
export function checkSize(s: string | number): { bytes: number } | { problem: string } {
  const text = String(s);
  if (/^\s*-\d/.test(text)) return { problem: "is negative: give a size such as 512M or 1G" };
  const bytes = typeof s === "number" ? (Number.isSafeInteger(s) ? s : undefined) : sizeBytes(s);
  if (bytes === undefined) return { problem: "is not a size: use e.g. 512M or 1G" };
  if (bytes === 0) return { problem: "is zero: give a size such as 512M or 1G" };
  return { bytes };
}

/** `s` in bytes, or a BAD_SIZE error naming `what` (e.g. "--memory" or "SIZE"): not a size, negative or zero. */
export function parseSize(s: string, what = "--memory"): number {
  const r = checkSize(s);
  if ("problem" in r) throw new CorralError<SizeErrorCode>("BAD_SIZE", `${what} '${s}' ${r.problem}`, { exitCode: 2 });
  return r.bytes;
}

/** Bytes as whole MiB, e.g. "512M", for messages. */
export function formatMiB(n: number): string {
  return `${Math.round(n / 2 ** 20)}M`;
}
