// A/B of two built Corral trees on this machine (issue 15: "no slowdown"), alternating the trees
// each round so both see the same load: boot of KERNEL+INITRD to the /init marker, and the
// CPU-bound bare-metal program (src/bench/guest, built with `npm run bench -- cpu` or by hand).
// Reports wall time and CPU time (utime+stime of the Corral process, and of its main thread alone,
// from /proc), which a loaded shared machine disturbs far less than wall time. When a tree's Machine.run prints
// "CPUSTART <microseconds of CPU>" on stderr (a one-line patch applied to that tree's dist for a
// measurement, never committed), the CPU time is split into start-up and emulation.
// The `python` job boots the python3 bench's Debian disk (src/bench/python.ts: a fresh sparse copy
// of the image cache's bench-python3 each run) and runs guest/pybench.py; it also reports the
// workload's own time (the guest's perf_counter) and its checksum; PYBENCH_SCALE=N makes the
// workload N times larger (pybench.py's argument), so that it, not the boot, is most of the CPU time.
//   [BOOT_APPEND=...] node scripts/bench-ab.mjs ROUNDS boot,cpu,python KERNEL INITRD CPUBOUND.ELF TREE_A TREE_B
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [, , roundsText, jobsText, kernel, initrd, elf, ...trees] = process.argv;
if (!roundsText || !jobsText || !kernel || !initrd || !elf || trees.length < 2) {
  console.error("usage: node scripts/bench-ab.mjs ROUNDS boot,cpu KERNEL INITRD CPUBOUND.ELF TREE_A TREE_B");
  process.exit(2);
}
const MARK = "corral: init started";
// The boot job's kernel command line; BOOT_APPEND replaces it (e.g. "console=ttyS0 quiet", the
// boot bench's second line, which runs the kernel's crypto self-tests).
const BOOT_APPEND = process.env.BOOT_APPEND ?? "console=ttyS0 quiet cryptomgr.notests";
const TICK = Number(execFileSync("getconf", ["CLK_TCK"]).toString());
// `thread`: the main thread's time alone (/proc/PID/task/PID), without V8's compiler and GC threads.
const cpuMs = (pid, thread = false) => {
  try {
    const f = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8")
      .split(") ")[1]
      .split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
  } catch {
    return NaN;
  }
};

// Minor page faults of the whole process (/proc/PID/stat field 10): loading the boot images faults
// every page they land in (docs/benchmarks.md, imgload section).
const minflt = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[7]);
  } catch {
    return NaN;
  }
};

// The python job's initramfs (the default one plus the command and pybench.py) and disk copy,
// made with tree A's modules.
let py = null;
async function pythonSetup() {
  const root = resolve(trees[0]);
  const { concatArchives } = await import(`${root}/dist/src/api/guest-command.js`);
  const { commandArchive } = await import(`${root}/dist/src/image/initramfs.js`);
  const dir = mkdtempSync(join(tmpdir(), "corral-ab-py-"));
  const initrdPy = join(dir, "initrd.cpio");
  writeFileSync(
    initrdPy,
    concatArchives(
      new Uint8Array(readFileSync(initrd)),
      commandArchive(`python3 -B /corral/files/pybench.py ${process.env.PYBENCH_SCALE ?? 1}`, {
        "pybench.py": new Uint8Array(readFileSync(`${root}/src/bench/guest/pybench.py`)),
      }),
    ),
  );
  const disk = join(process.env.CORRAL_HOME ?? join(homedir(), ".cache/corral"), "images/bench-python3/root.img");
  return { dir, initrd: initrdPy, disk, copy: join(dir, "root.img") };
}

// A tree's CLI as a user's `corral` starts it: bin/corral, the launcher (Node without parsing
// NODE_EXTRA_CA_CERTS), where the tree has one; `node bin/corral.js` in older trees.
const cli = (t) => (existsSync(`${t}/bin/corral`) ? [`${t}/bin/corral`] : [process.execPath, `${t}/bin/corral.js`]);
for (const t of trees) console.log(`${t}: ${cli(t).join(" ")}`);

function run([cmd, ...args], marker) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    let all = "";
    let done = false;
    let last = NaN;
    let lastMain = NaN;
    let lastFlt = NaN;
    let start = NaN;
    const poll = setInterval(() => {
      const v = cpuMs(c.pid);
      if (!Number.isNaN(v)) last = v;
      const m = cpuMs(c.pid, true);
      if (!Number.isNaN(m)) lastMain = m;
      const f = minflt(c.pid);
      if (!Number.isNaN(f)) lastFlt = f;
    }, 20);
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      const ms = performance.now() - t0;
      const cpu = c.exitCode === null ? cpuMs(c.pid) : last;
      const main = c.exitCode === null ? cpuMs(c.pid, true) : lastMain;
      const faults = c.exitCode === null ? minflt(c.pid) : lastFlt;
      if (c.exitCode === null) c.kill("SIGKILL");
      const w = /^pybench checksum (\S+) workload ([0-9.]+) s/m.exec(all);
      resolve({ ms, cpu, main, faults, startup: start, ok, workload: w ? Number(w[2]) * 1000 : NaN, checksum: w?.[1] });
    };
    const watch = (d) => {
      const m = /CPUSTART (\d+)/.exec(d.toString());
      if (m) start = Number(m[1]) / 1000;
      if (all.length < 1 << 20) all += d.toString("latin1");
      if (!marker) return;
      tail = (tail + d.toString("latin1")).slice(-4096);
      if (tail.includes(marker)) finish(true);
    };
    c.stdout.on("data", watch);
    c.stderr.on("data", watch);
    c.on("exit", (code) => finish(marker === null && code === 0));
  });
}

const out = {};
const rounds = Number(roundsText);
for (let r = 0; r < rounds; r++)
  for (const t of r % 2 ? [...trees].reverse() : trees)
    for (const job of jobsText.split(",")) {
      const bin = cli(t);
      if (job === "python" && py === null) py = await pythonSetup();
      if (job === "python") {
        rmSync(py.copy, { force: true });
        execFileSync("cp", ["--sparse=always", py.disk, py.copy]);
      }
      const x =
        job === "python"
          ? await run(
              [
                ...bin,
                "run",
                "--memory",
                "512M",
                "--net",
                "none",
                "--kernel",
                kernel,
                "--initrd",
                py.initrd,
                "--disk",
                py.copy,
                "--append",
                "console=ttyS0 quiet cryptomgr.notests psi=0 nowatchdog sysctl.vm.stat_interval=10 sysctl.vm.compaction_proactiveness=0 root=/dev/vda",
              ],
              null,
            )
          : job === "boot"
            ? await run(
                [...bin, "run", "--memory", "512M", "--kernel", kernel, "--initrd", initrd, "--append", BOOT_APPEND],
                MARK,
              )
            : await run([...bin, "run", "--memory", "128M", "--firmware", elf], null);
      (out[`${job} ${t}`] ??= []).push(x);
      const split =
        (Number.isNaN(x.startup) ? "" : ` (start-up ${(x.startup / 1000).toFixed(2)} s)`) +
        (Number.isNaN(x.workload) ? "" : `, workload ${(x.workload / 1000).toFixed(3)} s, checksum ${x.checksum}`);
      console.log(
        `${job} ${t} round ${r}: wall ${(x.ms / 1000).toFixed(2)} s, cpu ${(x.cpu / 1000).toFixed(2)} s (main thread ${(x.main / 1000).toFixed(2)} s), minor faults ${x.faults}${split}${x.ok ? "" : " FAILED"}`,
      );
    }
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
// Start-up (only an instrumented tree reports it) and the workload (the python job's) are left
// out of the summary when no run measured them.
const measured = (v, f) => v.every((x) => !Number.isNaN(f(x)));
for (const [k, v] of Object.entries(out)) {
  const parts = [
    `median wall ${s(median(v.map((x) => x.ms)))}`,
    `cpu ${s(median(v.map((x) => x.cpu)))} (min ${s(Math.min(...v.map((x) => x.cpu)))})`,
    `main thread ${s(median(v.map((x) => x.main)))} (min ${s(Math.min(...v.map((x) => x.main)))})`,
    `minor faults ${median(v.map((x) => x.faults))}`,
  ];
  if (measured(v, (x) => x.startup))
    parts.push(
      `start-up ${s(median(v.map((x) => x.startup)))}`,
      `emulation ${s(median(v.map((x) => x.cpu - x.startup)))}`,
    );
  if (measured(v, (x) => x.workload))
    parts.push(`workload ${s(median(v.map((x) => x.workload)))} (min ${s(Math.min(...v.map((x) => x.workload)))})`);
  console.log(`${k}: ${parts.join(", ")}`);
}
if (py !== null) rmSync(py.dir, { recursive: true, force: true });
