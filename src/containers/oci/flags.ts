import { CorralError } from "../../errors.js";

/**
 * Command-line flags the way runc (urfave/cli on Go's flag package) reads them: `--name value`,
 * `--name=value`, `-name value`, single-letter aliases, and flags before positional arguments
 * (everything after the first positional is positional, as for `exec <id> cmd -x`).
 */
export interface FlagSpec {
  /** Names without dashes; the first is the canonical key. */
  names: string[];
  /** "bool" takes no value; "list" may repeat. */
  kind: "bool" | "string" | "list";
}

export interface Parsed {
  flags: Map<string, string | boolean | string[]>;
  args: string[];
}

export function parseFlags(argv: string[], specs: FlagSpec[], what: string): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) for (const n of s.names) byName.set(n, s);
  const flags = new Map<string, string | boolean | string[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (args.length > 0 || a === "-" || !a.startsWith("-")) {
      args.push(a);
      continue;
    }
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (!spec)
      throw new CorralError("USAGE", `${what}: unknown flag '${a}'; run with --help for the list`, { exitCode: 1 });
    const key = spec.names[0] ?? name;
    if (spec.kind === "bool") {
      flags.set(key, eq < 0 ? true : !["false", "0"].includes(body.slice(eq + 1)));
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      const next = argv[++i];
      if (next === undefined) throw new CorralError("USAGE", `${what}: flag '${a}' needs a value`, { exitCode: 1 });
      value = next;
    }
    if (spec.kind === "list") flags.set(key, [...((flags.get(key) as string[] | undefined) ?? []), value]);
    else flags.set(key, value);
  }
  return { flags, args };
}

export function flagStr(p: Parsed, key: string): string | undefined {
  const v = p.flags.get(key);
  return typeof v === "string" ? v : undefined;
}

export function flagBool(p: Parsed, key: string): boolean {
  return p.flags.get(key) === true;
}

export function flagList(p: Parsed, key: string): string[] {
  const v = p.flags.get(key);
  return Array.isArray(v) ? v : [];
}

/** Go duration strings as runc's --interval takes them: "5s", "500ms", "1m". */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new CorralError("USAGE", `'${s}' is not a duration; use e.g. 5s or 500ms`, { exitCode: 1 });
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] ?? "s"] ?? 1000;
  return Number(m[1]) * unit;
}
