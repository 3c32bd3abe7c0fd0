import { CorralError } from "../errors.js";
import { MIRROR_ENV } from "../image/mirror.js";
import { HOME_ENV, corralHome, verifyImage } from "../image/cache.js";
import { ensureDefaultImage, imageDir, pullDefaultImage, type ImagePaths } from "../image/pull.js";

/** `corral image`: fetch the default guest image and show where it is cached. */
export const IMAGE_USAGE = `Usage: corral image <command> [options]

Commands:
  pull [--force]   fetch Debian trixie's riscv64 kernel, busybox and OpenSBI and build the
                   default guest image (about 115 MB, once); --force fetches it again
  path             print the paths of the cached image's files (fetching it if needed;
                   --offline never fetches)
  verify           re-hash every cached file against the image manifest

The cache lives in $${HOME_ENV} (default ~/.cache/corral). Packages come from the Debian mirror of
the host's apt configuration; set $${MIRROR_ENV} to use another.`;

function printPaths(p: ImagePaths): void {
  const rows: [string, string][] = [
    ["kernel", p.kernel],
    ["initramfs", p.initramfs],
    ["firmware", p.firmware],
    ["busybox", p.busybox],
    ["modules", p.modulesDir],
    ["config", p.kernelConfig],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(10)} ${v}\n`);
}

function parseFlags(args: string[], allowed: readonly string[]): Set<string> {
  const flags = new Set<string>();
  for (const a of args) {
    if (!allowed.includes(a)) {
      throw new CorralError("USAGE", `unexpected argument '${a}'; run 'corral image --help'`, { exitCode: 2 });
    }
    flags.add(a);
  }
  return flags;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      process.stderr.write(IMAGE_USAGE + "\n");
      return 2;
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(IMAGE_USAGE + "\n");
      return 0;
    case "pull": {
      if (rest.includes("--help")) return main(["--help"]);
      const flags = parseFlags(rest, ["--force", "-f"]);
      const p = await pullDefaultImage({ force: flags.has("--force") || flags.has("-f") });
      const versions = Object.entries(p.manifest.packages).map(([name, v]) => `${name} ${v.version}`);
      process.stderr.write(`corral: default image ready in ${p.dir} (${versions.join(", ")})\n`);
      return 0;
    }
    case "path": {
      const flags = parseFlags(rest, ["--offline"]);
      printPaths(await ensureDefaultImage({ offline: flags.has("--offline") }));
      return 0;
    }
    case "verify": {
      parseFlags(rest, []);
      const dir = imageDir(corralHome());
      const m = verifyImage(dir, { full: true });
      process.stdout.write(`${Object.keys(m.files).length} files of ${dir} match the manifest\n`);
      return 0;
    }
    default:
      throw new CorralError("USAGE", `unknown image command '${cmd}'; run 'corral image --help'`, { exitCode: 2 });
  }
}
