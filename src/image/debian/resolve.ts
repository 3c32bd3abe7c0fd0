/**
 * Which Debian packages a root disk holds, resolved by apt against the suite's signed index: the
 * base of debootstrap's minbase variant (every Essential and Priority: required package, and apt,
 * so the guest can install more) and the packages asked for, with their dependencies and no
 * Recommends, in its unpack order.
 */
import type { AptInstall, PrivateApt } from "../apt.js";
import { ImageError } from "../errors.js";

/** debootstrap's minbase (apt patterns, apt-patterns(7)). */
export const BASE_PATTERNS = ["?essential", "?priority(required)", "apt"] as const;

/** Debian policy §5.6.1: lower case letters, digits, '+', '-', '.'; at least two characters, starting alphanumeric. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

/** `--packages a,b,c` as names, each checked (so none is taken for an apt pattern or option). */
export function parsePackageList(text: string): string[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!PACKAGE_NAME.test(n))
      throw new ImageError(
        "BAD_PACKAGE_NAME",
        `--packages: '${n}' is not a Debian package name (lower case letters, digits, '+', '-', '.')`,
        { exitCode: 2 },
      );
  }
  return names;
}

/** Resolve the disk's packages, in apt's unpack order; PACKAGE_NOT_FOUND (apt's error) before anything is fetched. */
export function resolveDebianSet(apt: PrivateApt, packages: readonly string[]): AptInstall[] {
  return apt.simulateInstall([...BASE_PATTERNS, ...packages]);
}
