/**
 * `corral image build --debian SUITE --packages a,b`: an ext4 root disk of Debian with a complete
 * dpkg database.
 *   1. apt (the host's, with a private state kept in $CORRAL_HOME/apt/<suite>-riscv64) resolves
 *      the packages (resolve.ts): a name apt does not know stops the build here, before anything
 *      is fetched or written;
 *   2. apt fetches them into that state's cache (signed index, SHA256 of every .deb; packages
 *      already there are not fetched again), with a progress bar;
 *   3. the host unpacks the essential closure (dpkg-deb's data archive, no scripts), adds Corral's
 *      files (guest-files.ts) and the .debs, and makes the file system with mke2fs -d;
 *   4. Corral boots the disk with the default kernel and initramfs, and the guest installs the
 *      packages with its own dpkg (second-stage.ts);
 *   5. e2fsck checks the result, which is renamed into place.
 * Everything is built in a scratch directory beside the output (so the last step is a rename),
 * removed on failure and on SIGINT/SIGTERM/SIGHUP.
 */
import { execFileSync } from "node:child_process";
import { ImageError } from "../errors.js";
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CommandConsole, DEFAULT_CMDLINE, commandStatus, concatArchives } from "../../api/guest-command.js";
import { commandArchive } from "../initramfs.js";
import { PrivateApt, requireApt, type AptInstall } from "../apt.js";
import { findAptMirror } from "../mirror.js";
import { createProgress, type ProgressSink } from "../progress.js";
import { acquireLock, type Scratch } from "../staging.js";
import { makeExt4 } from "../rootdisk.js";
import { resolveDebianSet } from "./resolve.js";
import { BUILD_DIR, PREINST_LIST, SECOND_STAGE, STAGE_DONE } from "./second-stage.js";
import { DPKG_ADMIN, unpackDeb } from "./unpack.js";
import { writeCorralFiles } from "./guest-files.js";
import type { ImagePaths } from "../pull.js";

/** Guest RAM for the second stage: dpkg and the maintainer scripts fit with room to spare. */
const BUILD_MEMORY = "1G";

export interface DebianPlan {
  apt: PrivateApt;
  /** Every package, in apt's unpack order. */
  set: AptInstall[];
  release(): void;
}

/** Steps 1 and 2 (resolve, fetch); the apt state stays locked until `release`. */
export async function planDebian(o: {
  home: string;
  suite: string;
  packages: readonly string[];
  env: NodeJS.ProcessEnv;
  out: ProgressSink;
  track: Scratch["track"] | undefined;
}): Promise<DebianPlan> {
  requireApt();
  const dir = join(o.home, "apt", `${o.suite}-riscv64`);
  mkdirSync(dir, { recursive: true });
  const release = await acquireLock(join(o.home, "apt", `.${o.suite}-riscv64.lock`), `the ${o.suite} package cache`);
  try {
    const apt = new PrivateApt(dir, findAptMirror(o.env), { suite: o.suite, indexCache: true });
    o.out.write(`corral: reading the ${o.suite}/riscv64 package index\n`);
    apt.update();
    const set = resolveDebianSet(apt, o.packages);
    const bar = createProgress(`corral: fetching ${set.length} packages`, downloadBytes(apt, set), o.out);
    await apt.fetch(set, (f) => bar.update(f), o.track);
    bar.done();
    return { apt, set, release };
  } catch (e) {
    release();
    throw e;
  }
}

/** Bytes still to fetch, for the bar: apt's cache already holds the rest. */
function downloadBytes(apt: PrivateApt, pkgs: readonly AptInstall[]): number {
  let missing = 0;
  for (const p of pkgs) if (!existsSync(apt.archiveOf(p))) missing++;
  // apt's status lines give a fraction; the size shown is an estimate (about 0.4 MB a package).
  return missing * 400_000;
}

/** Step 3: the disk's tree and file system, in `work`; returns the image file. */
export function stageDebianDisk(
  work: string,
  plan: DebianPlan,
  o: { image: ImagePaths; mirror: string; suite: string; size: number },
): string {
  const root = join(work, "root");
  mkdirSync(root, { mode: 0o755 });
  chmodSync(root, 0o755);
  // Merged /usr (trixie's base-files ships these links too): made first, so that nothing unpacked
  // before base-files makes real directories of them.
  for (const d of ["bin", "sbin", "lib"]) {
    mkdirSync(join(root, "usr", d), { recursive: true });
    symlinkSync(`usr/${d}`, join(root, d));
  }
  // dpkg's database: each package unpacked as dpkg leaves it (unpack.ts), in apt's order.
  const admin = join(root, DPKG_ADMIN);
  for (const d of ["info", "updates", "triggers", "alternatives", "parts"])
    mkdirSync(join(admin, d), { recursive: true });
  writeFileSync(join(admin, "status"), "");
  writeFileSync(join(admin, "available"), "");
  const preinsts: string[] = [];
  for (const p of plan.set) {
    const u = unpackDeb(plan.apt.archiveOf(p), root, work);
    if (u.hasPreinst) preinsts.push(u.infoName);
  }
  // base-passwd's preinst makes /etc/passwd and /etc/group, which other scripts use: first.
  preinsts.sort((a, b) => Number(b === "base-passwd") - Number(a === "base-passwd"));
  writeCorralFiles(root, {
    busybox: new Uint8Array(readFileSync(o.image.busybox)),
    mirror: o.mirror,
    suite: o.suite,
  });
  mkdirSync(join(root, BUILD_DIR), { recursive: true });
  writeFileSync(join(root, BUILD_DIR, PREINST_LIST), preinsts.map((p) => `${p}\n`).join(""));
  const disk = join(work, "disk.img");
  makeExt4(root, disk, o.size);
  return disk;
}

/** Step 4: boot the disk and run the second stage; its dpkg lines go to `log`. */
export async function secondStage(disk: string, log: (line: string) => void): Promise<void> {
  const [{ composeVm }, { parseVmSpec, STANDARD_DEVICES }] = await Promise.all([
    import("../../vm/compose.js"),
    import("../../vm/spec.js"),
  ]);
  const spec = parseVmSpec({
    memory: BUILD_MEMORY,
    boot: { cmdline: `${DEFAULT_CMDLINE} root=/dev/vda` },
    devices: [{ kind: "blk", path: disk, format: "raw" }, ...STANDARD_DEVICES],
  });
  let partial = "";
  let done = false;
  const con = new CommandConsole((t) => {
    partial += t;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      if (l === STAGE_DONE) done = true;
      log(l);
    }
  });
  const { machine } = await composeVm(spec, {
    console: (b) => con.write(b),
    initrdAppend: (initrd) => concatArchives(initrd, commandArchive(SECOND_STAGE)),
  });
  // SIGINT and SIGTERM are the scratch directory's (staging.ts): it goes, and so does this process.
  let status: number;
  try {
    const exit = await machine.run();
    con.flush();
    status = commandStatus(exit, con);
  } finally {
    machine.close();
  }
  if (status !== 0 || !done)
    throw new ImageError(
      "DEBIAN_STAGE_FAILED",
      `the guest could not install the packages (status ${status}); its last lines:\n${con.transcript()}`,
    );
}

/** Step 5: e2fsck must find the file system clean (the guest left it read-only and unmounted). */
export function checkExt4(disk: string): void {
  try {
    execFileSync("e2fsck", ["-fn", disk], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    throw new ImageError(
      "DEBIAN_STAGE_FAILED",
      `e2fsck finds the new disk inconsistent: ${
        String((e as { stderr?: unknown }).stderr ?? e)
          .trim()
          .split("\n")[0]
      }`,
    );
  }
}
