/**
 * Interpreter benchmark (issue 17 item 1 c): Debian's python3 running a pure-Python workload
 * (guest/pybench.py) in a guest booted from a Debian root disk, on Corral and on QEMU, alternating,
 * with the same kernel, initramfs, command line, memory, devices and one hart. The disk is the
 * image cache's `bench-python3` (`corral image build --debian trixie --packages python3`), built
 * here once if missing; each run boots a fresh sparse copy of it, so both see the same bytes and
 * the cached image is never written. The workload prints its own time (time.perf_counter, inside
 * the guest) and a checksum of its results, which must be the same on both.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_CMDLINE, concatArchives } from "../api/guest-command.js";
import { buildImage } from "../image/build-image.js";
import { corralHome } from "../image/cache.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage } from "../image/pull.js";
import { DISK_FILE, imagesDir } from "../image/store.js";
import { tempDir } from "./cleanup.js";
import { runTimed } from "./spawn-until.js";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "../../../src/bench/guest");
/** The bench's Debian image in the image cache, and what it holds. */
export const PYTHON_IMAGE = "bench-python3";
const SUITE = "trixie";
const MEMORY_MIB = 512;
/** `python3 -B`: no .pyc written to the disk, so every run starts from the same bytes. */
const COMMAND = "python3 -B /corral/files/pybench.py";
const TOTAL = /^pybench checksum ([0-9a-f]{8}) workload ([0-9.]+) s\r?$/m;
const PART = /^pybench (\w+) ([0-9.]+) s\r?$/gm;

/** The image's root disk, built (minutes: apt fetches, a guest configures) if the cache lacks it. */
export async function ensurePythonImage(): Promise<string> {
  const disk = join(imagesDir(corralHome()), PYTHON_IMAGE, DISK_FILE);
  if (existsSync(disk)) return disk;
  process.stderr.write(`bench: building the image '${PYTHON_IMAGE}' (Debian ${SUITE} with python3), once\n`);
  await buildImage({
    output: PYTHON_IMAGE,
    size: 2 * 2 ** 30,
    force: false,
    debian: { suite: SUITE, packages: "python3" },
  });
  return disk;
}

export interface PyRun {
  checksum: string;
  /** The whole workload, and each part, as the guest's perf_counter measured them. */
  workloadMs: number;
  partsMs: Record<string, number>;
}

/** The workload's result lines from one run's console output, or why there are none. */
export function parsePyResult(output: string): PyRun | { problem: string } {
  const t = TOTAL.exec(output);
  if (!t) return { problem: `no checksum line in its output: ${JSON.stringify(output.slice(-400))}` };
  const partsMs: Record<string, number> = {};
  for (const m of output.matchAll(PART)) partsMs[m[1]!] = Number(m[2]) * 1000;
  return { checksum: t[1]!, workloadMs: Number(t[2]) * 1000, partsMs };
}

export interface PyResult {
  checksum: string;
  corral: { wallMs: number[]; runs: PyRun[] };
  qemu: { wallMs: number[]; runs: PyRun[] };
}

export async function benchPython(rounds: number, corralBin: string): Promise<PyResult> {
  const disk = await ensurePythonImage();
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-py-");
  try {
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(
      initrd,
      concatArchives(
        new Uint8Array(readFileSync(img.initramfs)),
        commandArchive(COMMAND, { "pybench.py": new Uint8Array(readFileSync(join(SRC, "pybench.py"))) }),
      ),
    );
    const cmdline = `${DEFAULT_CMDLINE} root=/dev/vda`;
    const copy = join(dir, "root.img");
    const fresh = (): void => {
      rmSync(copy, { force: true });
      execFileSync("cp", ["--sparse=always", disk, copy]);
    };
    const r: PyResult = { checksum: "", corral: { wallMs: [], runs: [] }, qemu: { wallMs: [], runs: [] } };
    const one = async (who: string, cmd: string, args: string[], into: PyResult["qemu"]): Promise<void> => {
      fresh();
      const run = await runTimed(cmd, args);
      const p = parsePyResult(run.output);
      if ("problem" in p) throw new Error(`${who}: ${p.problem}`);
      if (r.checksum === "") r.checksum = p.checksum;
      else if (p.checksum !== r.checksum)
        throw new Error(`${who}'s checksum differs: ${p.checksum} against ${r.checksum}`);
      into.wallMs.push(run.ms);
      into.runs.push(p);
    };
    for (let i = 0; i < rounds; i++) {
      // The same devices on both: the disk, an entropy device and a balloon (Corral's standard
      // devices; its agent's console port is idle), no NIC.
      await one(
        "QEMU",
        "qemu-system-riscv64",
        [
          ...["-M", "virt", "-smp", "1", "-m", String(MEMORY_MIB), "-nographic", "-nic", "none"],
          ...["-kernel", img.kernel, "-initrd", initrd, "-append", cmdline],
          ...["-drive", `file=${copy},format=raw,if=none,id=d0`, "-device", "virtio-blk-device,drive=d0"],
          ...["-device", "virtio-rng-device", "-device", "virtio-balloon-device"],
        ],
        r.qemu,
      );
      await one(
        "Corral",
        corralBin,
        [
          ...["run", "--memory", `${MEMORY_MIB}M`, "--net", "none"],
          ...["--kernel", img.kernel, "--initrd", initrd, "--disk", copy, "--append", cmdline],
        ],
        r.corral,
      );
    }
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
