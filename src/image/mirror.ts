/**
 * Which Debian mirror to fetch guest packages from. Corral never names a mirror itself: it reuses
 * the one the host's apt already trusts, or the one the user sets in CORRAL_APT_MIRROR.
 * Formats read: deb822 `.sources` files and one-line `sources.list` entries (man sources.list).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ImageError } from "./errors.js";

export const MIRROR_ENV = "CORRAL_APT_MIRROR";

/** One apt source: where and which suites (the fields Corral needs). */
export interface AptSource {
  uris: string[];
  suites: string[];
  file: string;
}

/** Stanzas of a deb822 `.sources` file that are enabled and of type `deb`. */
export function parseDeb822Sources(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  // Stanzas are separated by blank lines; '#' lines are comments; continuation lines start with space.
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = "";
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = (m[1] ?? "").toLowerCase();
      fields.set(last, (m[2] ?? "").trim());
    }
    const words = (k: string): string[] => (fields.get(k) ?? "").split(/\s+/).filter(Boolean);
    if (!words("types").includes("deb")) continue;
    if (/^(no|false|0)$/i.test(fields.get("enabled") ?? "yes")) continue;
    out.push({ uris: words("uris"), suites: words("suites"), file });
  }
  return out;
}

/** `deb [options] uri suite [component...]` lines of a one-line-style list. */
export function parseOneLineSources(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ uris: [m[1] ?? ""], suites: [m[2] ?? ""], file });
  }
  return out;
}

/** All `deb` sources of an apt configuration directory, in apt's reading order. */
export function readAptSources(etcApt = "/etc/apt"): AptSource[] {
  const out: AptSource[] = [];
  const list = join(etcApt, "sources.list");
  if (existsSync(list)) out.push(...parseOneLineSources(readFileSync(list, "utf8"), list));
  const dir = join(etcApt, "sources.list.d");
  const names = existsSync(dir) ? readdirSync(dir).sort() : [];
  for (const name of names) {
    const path = join(dir, name);
    // apt only reads *.list and *.sources; anything else (e.g. "*.disabled") is ignored.
    if (name.endsWith(".sources")) out.push(...parseDeb822Sources(readFileSync(path, "utf8"), path));
    else if (name.endsWith(".list")) out.push(...parseOneLineSources(readFileSync(path, "utf8"), path));
  }
  return out;
}

/** The host's Debian codename (e.g. "bookworm"), from os-release. */
function hostCodename(osRelease = "/etc/os-release"): string | undefined {
  try {
    return /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync(osRelease, "utf8"))?.[1]?.replace(/"/g, "");
  } catch {
    return undefined;
  }
}

/**
 * Pick the host's main Debian archive among its sources: the first source carrying the host's own
 * release suite (not -security/-updates, which live in other archives), else the first whose URI
 * path ends in /debian. Only http(s) and file URIs are usable by a private apt run.
 */
export function pickDebianMirror(sources: readonly AptSource[], codename?: string): string | undefined {
  const usable = (u: string): boolean => /^(https?|file):/.test(u);
  const first = (pred: (s: AptSource) => boolean): string | undefined =>
    sources
      .filter(pred)
      .flatMap((s) => s.uris)
      .find(usable);
  return (
    (codename ? first((s) => s.suites.includes(codename)) : undefined) ??
    first((s) => s.uris.some((u) => /\/debian\/?$/.test(u)))
  );
}

/** The mirror URI to use: $CORRAL_APT_MIRROR, else the host's Debian mirror. */
export function findAptMirror(env: NodeJS.ProcessEnv = process.env, etcApt = "/etc/apt"): string {
  const override = env[MIRROR_ENV]?.trim();
  if (override) return override.replace(/\/+$/, "");
  const uri = pickDebianMirror(readAptSources(etcApt), hostCodename());
  if (!uri) {
    throw new ImageError(
      "MIRROR_NOT_CONFIGURED",
      `found no Debian mirror in ${etcApt}/sources.list{,.d}; set ${MIRROR_ENV} to a Debian mirror URI (…/debian)`,
    );
  }
  return uri.replace(/\/+$/, "");
}
