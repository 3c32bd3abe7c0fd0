/** What the verbs' argument parsing shares. */
import type { ParseArgsConfig } from "node:util";
import { CorralError } from "../errors.js";

/**
 * Node's parseArgs takes `--memory -5` as a flag with no value ("argument is ambiguous"): a value
 * that starts with a dash must be written `--memory=-5`. Do that for every option that takes a
 * value and is followed by a number, so a negative number is parsed and then refused as what it is.
 */
export function negativeValues(argv: string[], options: NonNullable<ParseArgsConfig["options"]>): string[] {
  const valued = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    valued.set(`--${name}`, name);
    if (o.short !== undefined) valued.set(`-${o.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = valued.get(a);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** "512M", "1G", "65536K", "512" (MiB) to bytes; refuses zero, negative and garbage sizes. */
export function parseSize(s: string, flag = "--memory"): number {
  if (/^\s*-\d/.test(s)) throw new CorralError("BAD_SIZE", `${flag} '${s}' is negative: give a size such as 512M or 1G`, { exitCode: 2 });
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(s.trim());
  if (!m) throw new CorralError("BAD_SIZE", `${flag} '${s}' is not a size: use e.g. 512M or 1G`, { exitCode: 2 });
  const n = Number(m[1]);
  if (n === 0) throw new CorralError("BAD_SIZE", `${flag} '${s}' is zero: give a size such as 512M or 1G`, { exitCode: 2 });
  const unit = (m[2] ?? "").toUpperCase();
  return n * (unit === "K" ? 1024 : unit === "G" ? 2 ** 30 : unit === "T" ? 2 ** 40 : 2 ** 20);
}
