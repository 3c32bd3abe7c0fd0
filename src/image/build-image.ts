/**
 * `corral image build`: a root disk of the default guest (rootdisk.ts) or of Debian
 * (debian/build.ts), into a file or by name into the image cache (store.ts). Whatever fails, or
 * is interrupted, leaves neither a partial image nor its scratch directory; an existing output
 * is refused before any work unless `force`, and then replaced only by the finished image.
 */
import { mkdirSync } from "node:fs";
import { ImageError } from "./errors.js";
import { dirname, join, resolve } from "node:path";
import { corralHome } from "./cache.js";
import { planDebian, stageDebianDisk, secondStage, checkExt4, type DebianPlan } from "./debian/build.js";
import { parsePackageList } from "./debian/resolve.js";
import type { ProgressSink } from "./progress.js";
import { ensureDefaultImage } from "./pull.js";
import { buildRootDisk } from "./rootdisk.js";
import { makeScratch, sweepStale } from "./staging.js";
import { checkOutput, installDisk, outputTarget, type ImageRecordFile } from "./store.js";

export interface BuildImageOptions {
  /** NAME (into the image cache) or a file path. */
  output: string;
  /** Disk size in bytes. */
  size: number;
  force: boolean;
  /** A Debian disk: its suite and the packages (comma-separated) beside the base. */
  debian?: { suite: string; packages: string };
  home?: string;
  env?: NodeJS.ProcessEnv;
  out?: ProgressSink;
}

export interface BuiltImage {
  /** The disk image file. */
  path: string;
  /** One line telling how to boot it. */
  ready: string;
  /** Seconds taken by the whole build and by the guest's second stage (Debian). */
  seconds: number;
  stageSeconds?: number;
}

const SUITE = /^[a-z]+$/;

export async function buildImage(o: BuildImageOptions): Promise<BuiltImage> {
  const started = Date.now();
  const env = o.env ?? process.env;
  const home = o.home ?? corralHome(env);
  const out = o.out ?? process.stderr;
  const target = outputTarget(o.output);
  checkOutput(home, target, o.force);
  const packages = o.debian ? parsePackageList(o.debian.packages) : [];
  if (o.debian && !SUITE.test(o.debian.suite))
    throw new ImageError("BAD_SUITE", `--debian: '${o.debian.suite}' is not a Debian suite name (e.g. trixie)`, {
      exitCode: 2,
    });
  const image = await ensureDefaultImage({ home, env, out });
  // Resolve and fetch before anything is written: an unknown package stops the build here.
  const plan: DebianPlan | undefined = o.debian
    ? await planDebian({ home, suite: o.debian.suite, packages, env, out, track: undefined })
    : undefined;
  const tmpRoot = target.kind === "name" ? join(home, "tmp") : dirname(resolve(target.path));
  const prefix = target.kind === "name" ? "build" : ".corral-build";
  let scratch;
  try {
    if (target.kind === "name") {
      mkdirSync(join(home, "images"), { recursive: true });
      sweepStale(tmpRoot, prefix);
    }
    scratch = makeScratch(tmpRoot, prefix);
  } catch (e) {
    plan?.release();
    throw e;
  }
  try {
    mkdirSync(join(scratch.dir, "image"));
    const created = (): string => new Date().toISOString();
    let disk: string;
    let record: ImageRecordFile;
    let stageSeconds: number | undefined;
    if (!plan || !o.debian) {
      disk = join(scratch.dir, "disk.img");
      buildRootDisk({ initramfs: image.initramfs, output: disk, size: o.size });
      record = { format: 1, kind: "busybox", created: created() };
    } else {
      try {
        disk = stageDebianDisk(scratch.dir, plan, {
          image,
          mirror: plan.apt.mirror,
          suite: o.debian.suite,
          size: o.size,
        });
      } finally {
        plan.release();
      }
      const total = plan.set.length;
      out.write(`corral: installing ${total} packages in a guest booted from the new disk (a few minutes)\n`);
      let setUp = 0;
      let shown = 0;
      const t = Date.now();
      await secondStage(disk, (line) => {
        if (!line.startsWith("Setting up ")) return;
        setUp++;
        const step = Math.floor((setUp / total) * 10);
        if (step > shown) {
          shown = step;
          out.write(`corral: ${setUp}/${total} packages set up\n`);
        }
      });
      stageSeconds = (Date.now() - t) / 1000;
      checkExt4(disk);
      record = {
        format: 1,
        kind: "debian",
        created: created(),
        suite: o.debian.suite,
        packages,
        installed: Object.fromEntries(plan.set.map((p) => [p.package, p.version])),
      };
    }
    const path = installDisk(home, target, disk, scratch.dir, record);
    const seconds = (Date.now() - started) / 1000;
    const how =
      target.kind === "name"
        ? `corral run --image ${target.name}`
        : `corral run --disk ${target.path} --append "console=ttyS0 root=/dev/vda"`;
    const took = `${seconds.toFixed(0)} s${stageSeconds !== undefined ? `, of which ${stageSeconds.toFixed(0)} s in the guest` : ""}`;
    return {
      path,
      ready: `root disk ${target.kind === "name" ? `'${target.name}'` : path} ready (${took}); boot it with: ${how}`,
      seconds,
      ...(stageSeconds !== undefined ? { stageSeconds } : {}),
    };
  } finally {
    scratch.dispose();
  }
}
