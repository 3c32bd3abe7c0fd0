import { readFileSync } from "node:fs";
import { buildSeccomp } from "./index.js";
import { defaultSeccompProfile } from "./profile.js";
import { ContainerError } from "../errors.js";

/**
 * The seccomp filter of a `corral container`: Corral's default profile, none ("unconfined",
 * podman's `--security-opt seccomp=unconfined`), or a profile file in the OCI `linux.seccomp`
 * form (config-linux.md "Seccomp").
 */
export type SeccompChoice = { kind: "default" } | { kind: "unconfined" } | { kind: "file"; path: string };

/** `--security-opt` values: only `seccomp=...` is understood; anything else is refused. */
export function parseSecurityOpts(opts: string[]): SeccompChoice {
  let choice: SeccompChoice = { kind: "default" };
  for (const o of opts) {
    const m = /^seccomp[=:](.+)$/.exec(o);
    if (!m?.[1])
      throw new ContainerError(
        "USAGE",
        `--security-opt '${o}' is not supported; use seccomp=unconfined or seccomp=PROFILE.json`,
      );
    choice = m[1] === "unconfined" ? { kind: "unconfined" } : { kind: "file", path: m[1] };
  }
  return choice;
}

/** The `linux.seccomp` value for a choice, validated (a bad file fails here, in one line). */
export function seccompFor(choice: SeccompChoice): unknown {
  switch (choice.kind) {
    case "default":
      return defaultSeccompProfile();
    case "unconfined":
      return undefined;
    case "file": {
      let profile: unknown;
      try {
        profile = JSON.parse(readFileSync(choice.path, "utf8"));
      } catch (e) {
        const why =
          e instanceof SyntaxError ? "is not JSON" : `cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})`;
        throw new ContainerError(
          "USAGE",
          `seccomp profile ${choice.path} ${why}; give a JSON file in the OCI linux.seccomp form`,
          { cause: e },
        );
      }
      const rules = (profile as { syscalls?: unknown }).syscalls;
      // Engine profiles (Docker's, podman's) carry capability conditions an engine resolves
      // before it hands the profile to a runtime; taken as they are, a rule meant only for
      // CAP_SYS_ADMIN (mount, unshare...) would apply to every container.
      if (
        Array.isArray(rules) &&
        rules.some((r) => typeof r === "object" && r !== null && ("includes" in r || "excludes" in r))
      )
        throw new ContainerError(
          "USAGE",
          `seccomp profile ${choice.path} has engine 'includes'/'excludes' conditions, which Corral does not resolve; give a profile in the OCI linux.seccomp form`,
        );
      buildSeccomp(profile);
      return profile;
    }
  }
}
