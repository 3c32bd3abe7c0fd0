import { MIRROR_ENV } from "../image/mirror.js";
import { HOME_ENV, corralHome, verifyImage } from "../image/cache.js";
import { ensureDefaultImage, imageDir, pullDefaultImage, type ImagePaths } from "../image/pull.js";
import { buildImage } from "../image/build-image.js";
import { listImages, removeImage } from "../image/store.js";
import { OverlayDisk } from "../disk/overlay.js";
import { SIZE_HELP, parseSize } from "../size.js";
import { parseVerbArgs, usageError } from "../args.js";

/** `corral image`: fetch the default guest image and show where it is cached. */
export const IMAGE_USAGE = `Usage: corral image <command> [options]

Commands:
  pull [--force]   fetch Debian trixie's riscv64 kernel, busybox and OpenSBI and build the
                   default guest image (about 115 MB, once); --force fetches it again
  path             print the paths of the cached image's files (fetching it if needed;
                   --offline never fetches)
  verify           re-hash every cached file against the image manifest
  build [--size SIZE] [--force] --output NAME|FILE
                   make an ext4 root disk of the default guest (default size 256M). A NAME
                   (letters, digits, '_', '-') goes into the image cache: boot it with
                   'corral run --image NAME'. A FILE (any path with '/' or '.', e.g. root.img):
                   corral run --disk FILE --append "console=ttyS0 root=/dev/vda"
  build --debian SUITE [--packages P1,P2,...] [--size SIZE] [--force] --output NAME|FILE
                   make an ext4 root disk of Debian SUITE (riscv64; e.g. trixie) with its base
                   (Essential and required packages, and apt) and the packages named, with their
                   dependencies (default size 2G). apt resolves and fetches them (kept in the
                   cache: a second build fetches nothing); a guest booted from the new disk
                   installs them with dpkg. An existing output is replaced only with --force
  ls               list the images in the cache: name, kind, size on the host, creation time
  rm NAME          remove an image from the cache
  overlay BASE --output FILE
                   make a copy-on-write overlay of the disk image BASE (docs/overlay-format.md):
                   the VM writes to FILE and BASE stays unchanged, so many VMs share one base

${SIZE_HELP}.

The cache lives in $${HOME_ENV} (default ~/.cache/corral). Packages come from the Debian mirror of
the host's apt configuration; set $${MIRROR_ENV} to use another.`;

/** Bytes as the cache listing shows them: MiB with one decimal under 10, else whole. */
function formatBytes(n: number): string {
  const mib = n / 2 ** 20;
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)}G` : `${mib.toFixed(mib < 10 ? 1 : 0)}M`;
}

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

/** `args` of `corral image <sub>` with no positional arguments. */
function flagsOf<O extends Parameters<typeof parseVerbArgs>[2]>(
  args: string[],
  options: O,
): ReturnType<typeof parseVerbArgs<O>>["values"] {
  const p = parseVerbArgs("image", args, options);
  if (p.positionals.length > 0)
    throw usageError(`unexpected argument '${p.positionals[0]}'; run 'corral image --help'`);
  return p.values;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (rest.includes("--help") || rest.includes("-h")) return main(["--help"]);
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
      const flags = flagsOf(rest, { force: { type: "boolean", short: "f" } });
      const p = await pullDefaultImage({ force: flags.force === true });
      const versions = Object.entries(p.manifest.packages).map(([name, v]) => `${name} ${v.version}`);
      process.stderr.write(`corral: default image ready in ${p.dir} (${versions.join(", ")})\n`);
      return 0;
    }
    case "path": {
      const flags = flagsOf(rest, { offline: { type: "boolean" } });
      printPaths(await ensureDefaultImage({ offline: flags.offline === true }));
      return 0;
    }
    case "verify": {
      flagsOf(rest, {});
      const dir = imageDir(corralHome());
      const m = verifyImage(dir, { full: true });
      process.stdout.write(`${Object.keys(m.files).length} files of ${dir} match the manifest\n`);
      return 0;
    }
    case "build": {
      const o = flagsOf(rest, {
        output: { type: "string", short: "o" },
        size: { type: "string" },
        debian: { type: "string" },
        packages: { type: "string" },
        force: { type: "boolean", short: "f" },
      });
      if (o.output === undefined) throw usageError("corral image build needs --output NAME or --output FILE");
      if (o.packages !== undefined && o.debian === undefined)
        throw usageError("--packages needs --debian SUITE (the default guest is busybox only)");
      const size = parseSize(o.size ?? (o.debian !== undefined ? "2G" : "256M"), "--size");
      const r = await buildImage({
        output: o.output,
        size,
        force: o.force === true,
        ...(o.debian !== undefined ? { debian: { suite: o.debian, packages: o.packages ?? "" } } : {}),
      });
      process.stderr.write(`corral: ${r.ready}\n`);
      return 0;
    }
    case "ls": {
      flagsOf(rest, {});
      const rows = listImages(corralHome()).map((i) => [
        i.name,
        i.kind,
        formatBytes(i.bytes) + (i.diskBytes !== undefined ? ` (disk ${formatBytes(i.diskBytes)})` : ""),
        i.created.replace(/\.\d+Z$/, "Z"),
      ]);
      const head = ["NAME", "KIND", "SIZE", "CREATED"];
      const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
      for (const r of [head, ...rows])
        process.stdout.write(
          r
            .map((x, c) => x.padEnd(w[c]!))
            .join("  ")
            .trimEnd() + "\n",
        );
      return 0;
    }
    case "rm": {
      const p = parseVerbArgs("image", rest, {});
      const [name, extra] = p.positionals;
      if (name === undefined || extra !== undefined) throw usageError("usage: corral image rm NAME");
      removeImage(corralHome(), name);
      process.stderr.write(`corral: image '${name}' removed\n`);
      return 0;
    }
    case "overlay": {
      const p = parseVerbArgs("image", rest, { output: { type: "string", short: "o" } });
      const [base, extra] = p.positionals;
      const output = p.values.output;
      if (base === undefined || extra !== undefined || output === undefined)
        throw usageError("usage: corral image overlay BASE --output FILE");
      OverlayDisk.create(output, base);
      process.stderr.write(`corral: overlay ${output} of ${base} ready; attach it with --disk ${output}\n`);
      return 0;
    }
    default:
      throw usageError(`unknown image command '${cmd}'; run 'corral image --help'`);
  }
}
