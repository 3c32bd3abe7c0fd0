/**
 * A private apt for another Debian release and architecture (trixie riscv64), run through the
 * host's apt-get/apt-cache with its own sources, lists and cache directory: the host's apt state
 * is never read or written (see docs in /work/shared/notes/guest-images.md, and apt.conf(5) for
 * the Dir::* options). apt verifies the release signature and each package's SHA256.
 */
import type { ChildProcess } from "node:child_process";
import { childProcess } from "../builtins.js";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { MIRROR_ENV } from "./mirror.js";
import { ImageError } from "./errors.js";

export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

export interface AptPackageInfo {
  package: string;
  version: string;
  architecture: string;
  /** Size of the .deb in bytes. */
  size: number;
  /** Unpacked size in bytes (Installed-Size is in KiB). */
  installedSize: number;
  sha256: string;
}

/** Throw APT_NOT_FOUND unless apt-get, apt-cache and dpkg-deb are on PATH. */
export function requireApt(): void {
  for (const tool of ["apt-get", "apt-cache", "dpkg-deb"]) {
    const r = childProcess().spawnSync(tool, ["--version"], { stdio: "ignore" });
    if (r.error || r.status !== 0) {
      throw new ImageError(
        "APT_NOT_FOUND",
        `'${tool}' is not available: Corral fetches its default guest image with Debian's apt; install apt or pass --kernel/--initrd`,
      );
    }
  }
}

/** One package of a resolved install, in the order apt would unpack it. */
export interface AptInstall {
  package: string;
  version: string;
  architecture: string;
}

export interface PrivateAptOptions {
  suite?: string;
  arch?: string;
  /**
   * Keep apt's binary package caches (about 50 MB) in `dir`: worth it for a state that is kept
   * and read many times (Debian root disks), where each apt run would otherwise parse the whole
   * index again (tens of seconds on a busy machine).
   */
  indexCache?: boolean;
}

export class PrivateApt {
  private readonly opts: string[];
  readonly suite: string;
  readonly arch: string;

  /**
   * @param dir private state directory (created); holds sources.list, lists/, cache/ and an empty
   *   dpkg status (nothing installed), so apt resolves an install into an empty root
   * @param mirror archive URI, e.g. the value findAptMirror() returns
   */
  constructor(
    readonly dir: string,
    readonly mirror: string,
    o: PrivateAptOptions = {},
  ) {
    this.suite = o.suite ?? "trixie";
    this.arch = o.arch ?? "riscv64";
    const { suite, arch } = this;
    mkdirSync(join(dir, "lists", "partial"), { recursive: true });
    mkdirSync(join(dir, "cache", "archives", "partial"), { recursive: true });
    const sources = join(dir, "sources.list");
    writeFileSync(sources, `deb [arch=${arch} signed-by=${DEBIAN_KEYRING}] ${mirror} ${suite} main\n`);
    const status = join(dir, "status");
    if (!existsSync(status)) writeFileSync(status, "");
    this.opts = [
      ["APT::Architecture", arch],
      ["APT::Architectures", arch],
      ["Dir::State::Lists", join(dir, "lists")],
      ["Dir::Etc::SourceList", sources],
      ["Dir::Etc::SourceParts", "/nonexistent"],
      ["Dir::Etc::Preferences", "/nonexistent"],
      ["Dir::Etc::PreferencesParts", "/nonexistent"],
      ["Dir::Cache", join(dir, "cache")],
      // Without indexCache, no binary package caches: they cost ~50 MB and are rebuilt per run anyway.
      ["Dir::Cache::pkgcache", o.indexCache ? join(dir, "pkgcache.bin") : ""],
      ["Dir::Cache::srcpkgcache", o.indexCache ? join(dir, "srcpkgcache.bin") : ""],
      // apt's own state (and dpkg's lock, beside the status file) in `dir`, never the host's.
      ["Dir::State", dir],
      ["Dir::State::status", status],
      ["Dir::Log", join(dir, "log")],
      // Our directories live under the user's home, which apt's '_apt' sandbox user cannot enter.
      ["APT::Sandbox::User", "root"],
    ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  }

  /** Fetch the suite's index; MIRROR_UNREACHABLE if any part fails (apt alone would only warn). */
  update(): void {
    const r = childProcess().spawnSync("apt-get", [...this.opts, "-q", "--error-on=any", "update"], {
      encoding: "utf8",
    });
    if (r.status !== 0) {
      const why = lastError(r.stderr) ?? r.error?.message ?? `exit status ${r.status}`;
      if (/No space left on device/i.test(r.stderr)) throw diskFull(this.dir, why);
      throw new ImageError(
        "MIRROR_UNREACHABLE",
        `could not read the ${this.suite}/${this.arch} package index from ${this.mirror} (${why}); set ${MIRROR_ENV} to a reachable Debian mirror`,
      );
    }
  }

  /** Packages `pkg` depends on (apt-cache depends), e.g. the versioned kernel behind a metapackage. */
  depends(pkg: string): string[] {
    const out = this.run("apt-cache", ["depends", pkg]);
    return [...out.matchAll(/^\s+(?:\|)?Depends:\s+(\S+)/gm)].map((m) => m[1] ?? "").filter(Boolean);
  }

  /** The candidate version's record (apt-cache show --no-all-versions). */
  show(pkg: string): AptPackageInfo {
    const out = this.run("apt-cache", ["show", "--no-all-versions", pkg]);
    const field = (name: string): string => {
      const v = new RegExp(`^${name}: (.+)$`, "m").exec(out)?.[1];
      if (v === undefined) throw new ImageError("APT_BAD_RECORD", `apt-cache show ${pkg} has no ${name} field`);
      return v.trim();
    };
    return {
      package: field("Package"),
      version: field("Version"),
      architecture: field("Architecture"),
      size: Number(field("Size")),
      installedSize: Number(field("Installed-Size")) * 1024,
      sha256: field("SHA256"),
    };
  }

  /**
   * `apt-get download` the packages into `into` (apt checks each SHA256). `onProgress` gets the
   * overall fraction done, parsed from apt's machine-readable status lines (APT::Status-Fd,
   * "dlstatus:<item>:<percent>:<text>").
   */
  download(
    pkgs: readonly string[],
    into: string,
    onProgress?: (fraction: number) => void,
    onSpawn?: (child: ChildProcess) => void,
  ): Promise<void> {
    return this.spawnWithProgress(["download", ...pkgs], into, onProgress, onSpawn, pkgs.join(", "));
  }

  private spawnWithProgress(
    args: readonly string[],
    cwd: string | undefined,
    onProgress: ((fraction: number) => void) | undefined,
    onSpawn: ((child: ChildProcess) => void) | undefined,
    what: string,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = childProcess().spawn("apt-get", [...this.opts, "-q", "-o", "APT::Status-Fd=3", ...args], {
        ...(cwd !== undefined ? { cwd } : {}),
        stdio: ["ignore", "ignore", "pipe", "pipe"],
      });
      onSpawn?.(child);
      let stderr = "";
      child.stdio[2]?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      let pending = "";
      (child.stdio[3] as Readable | null)?.on("data", (d: Buffer) => {
        pending += d.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const m = /^dlstatus:[^:]*:([0-9.]+):/.exec(line);
          if (m && onProgress) onProgress(Math.min(1, Number(m[1]) / 100));
        }
      });
      child.on("error", (e) =>
        reject(new ImageError("APT_NOT_FOUND", `could not run apt-get: ${e.message}`, { cause: e })),
      );
      child.on("close", (status, signal) => {
        if (status === 0) return resolve();
        const why = lastError(stderr) ?? (signal ? `killed by ${signal}` : `exit status ${status}`);
        if (/No space left on device/i.test(stderr)) return reject(diskFull(cwd ?? this.dir, why));
        reject(
          new ImageError(
            "DOWNLOAD_FAILED",
            `apt-get could not download ${what} from ${this.mirror} (${why}); check the mirror or set ${MIRROR_ENV}`,
          ),
        );
      });
    });
  }

  /**
   * What installing `pkgs` (names or apt patterns) into an empty root takes, without Recommends,
   * in apt's unpack order ("Inst" lines of a simulated install, apt-get(8) -s). A name apt cannot
   * install (unknown, virtual without a provider) is PACKAGE_NOT_FOUND with apt's own error.
   */
  simulateInstall(pkgs: readonly string[]): AptInstall[] {
    const r = childProcess().spawnSync("apt-get", [...this.opts, ...INSTALL_OPTS, "-s", "install", ...pkgs], {
      encoding: "utf8",
    });
    if (r.status !== 0) {
      const why = lastError(r.stderr) ?? r.error?.message ?? `exit status ${String(r.status)}`;
      throw new ImageError("PACKAGE_NOT_FOUND", `apt: ${why}`, { exitCode: 2 });
    }
    return [...r.stdout.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/gm)].map((m) => ({
      package: m[1] ?? "",
      version: m[2] ?? "",
      architecture: m[3] ?? "",
    }));
  }

  /** The .deb file of `p` in apt's cache (cache/archives), where fetch() leaves it. */
  archiveOf(p: AptInstall): string {
    // apt names an archive package_version_arch.deb with the version's ':' (an epoch) escaped.
    return join(this.dir, "cache", "archives", `${p.package}_${p.version.replace(/:/g, "%3a")}_${p.architecture}.deb`);
  }

  /**
   * Download `pkgs` (exact versions) into apt's cache, where packages already there and whole are
   * kept (apt-get -d install: each SHA256 is checked against the signed index).
   */
  fetch(
    pkgs: readonly AptInstall[],
    onProgress?: (fraction: number) => void,
    onSpawn?: (child: ChildProcess) => void,
  ): Promise<void> {
    const args = [...INSTALL_OPTS, "-d", "-y", "install", ...pkgs.map((p) => `${p.package}=${p.version}`)];
    return this.spawnWithProgress(args, undefined, onProgress, onSpawn, `${pkgs.length} packages`);
  }

  private run(tool: string, args: string[]): string {
    const r = childProcess().spawnSync(tool, [...this.opts, ...args], { encoding: "utf8" });
    if (r.status !== 0) {
      if (/No space left on device/i.test(r.stderr)) throw diskFull(this.dir, lastError(r.stderr) ?? "");
      throw new ImageError(
        "PACKAGE_NOT_FOUND",
        `${tool} ${args.join(" ")} failed (${lastError(r.stderr) ?? `exit status ${r.status}`}); is ${this.mirror} a Debian ${this.suite} mirror with ${this.arch}?`,
      );
    }
    return r.stdout;
  }
}

/** Options of every install apt resolves here: what debootstrap's minbase takes, no Recommends or Suggests. */
const INSTALL_OPTS = ["-q", "-o", "APT::Install-Recommends=false", "-o", "APT::Install-Suggests=false"];

/** apt's last "E: ..." line (or last non-empty line), without the prefix. */
function lastError(stderr: string | undefined): string | undefined {
  const lines = (stderr ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => l.startsWith("E: "));
  const pick = errors.find((l) => !/Some index files failed/.test(l)) ?? errors[0] ?? lines[lines.length - 1];
  return pick?.replace(/^[EW]: /, "").replace(/\s+/g, " ");
}

export function diskFull(where: string, detail: string): ImageError {
  return new ImageError(
    "DISK_FULL",
    `no space left on the device holding ${where} (${detail}); free some space or set CORRAL_HOME to another disk`,
  );
}
