#!/usr/bin/env node
/**
 * Developer tool: where does a guest workload spend its instructions? Boots the default guest
 * (built dist/ needed) with the workload as its command, samples the hart's pc after every
 * scheduler slice between the lines @@PROF-ON@@ and @@PROF-OFF@@ the workload prints, then
 * resolves the samples with the guest's own /proc/kallsyms (printed at the end).
 *
 *   node scripts/guest-profile.mjs [--disk FILE] [--top N] -- 'workload shell code'
 *
 * Host-side profile: run it under `node --cpu-prof`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import inspector from "node:inspector";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { buildMachine } from "../dist/src/machine/builder.js";
import { runHart } from "../dist/src/cpu/engine/exec.js";
const HartState = { Started: 0 }; // src/cpu/hart/hart.ts (a const enum)
import { concatArchives, DEFAULT_CMDLINE } from "../dist/src/api/guest-command.js";
import { commandArchive } from "../dist/src/image/initramfs.js";
import { ensureDefaultImage } from "../dist/src/image/pull.js";
import { VirtioBlk } from "../dist/src/devices/virtio/blk.js";
import { openDisk, parseDiskSpec } from "../dist/src/disk/open.js";
import { openNets, withNetCmdline } from "../dist/src/net/attach.js";

const sep = process.argv.indexOf("--");
const { values } = parseArgs({
  args: process.argv.slice(2, sep < 0 ? undefined : sep),
  options: {
    disk: { type: "string" },
    top: { type: "string" },
    memory: { type: "string" },
    net: { type: "string" },
    "host-prof": { type: "string" },
    "no-sample": { type: "boolean" },
    "own-markers": { type: "boolean" },
    counts: { type: "boolean" },
    stacks: { type: "boolean" },
  },
});
const workload = sep < 0 ? "true" : process.argv.slice(sep + 1).join(" ");
// The symbols go out through a scratch disk of their own (the last one): the UART is far too slow for them.
const symDev = values.disk ? "/dev/vdb" : "/dev/vda";
// With --own-markers the workload prints @@PROF-ON@@ and @@PROF-OFF@@ itself, around the part to measure.
const dump = `grep -i ' t ' /proc/kallsyms > ${symDev}; sync`;
const cmd = values["own-markers"]
  ? `${workload}; ${dump}`
  : `echo @@PROF-ON@@; ${workload}; echo @@PROF-OFF@@; ${dump}`;
const symDisk = join(mkdtempSync(join(tmpdir(), "corral-prof-")), "syms.img");
writeFileSync(symDisk, Buffer.alloc(32 * 2 ** 20));
const img = await ensureDefaultImage();
// --host-prof FILE: a V8 CPU profile of the emulator over the window only (open it in Chrome's DevTools).
const hostProf = values["host-prof"]
  ? (() => {
      const session = new inspector.Session();
      session.connect();
      session.post("Profiler.enable");
      return {
        start: () => session.post("Profiler.start"),
        stop: () =>
          session.post("Profiler.stop", (err, r) => {
            if (!err) writeFileSync(values["host-prof"], JSON.stringify(r.profile));
          }),
      };
    })()
  : undefined;
let log = "";
let on = false;
const nets = values.net ? await openNets([values.net]) : { devices: [], cmdline: "" };
const virtio = [
  ...nets.devices,
  ...[...(values.disk ? [values.disk] : []), symDisk].map(
    (d, i) => new VirtioBlk({ name: `blk${i}`, disk: openDisk(parseDiskSpec(d)) }),
  ),
];
const m = buildMachine({
  memory: Number(values.memory ?? 512) * 2 ** 20,
  cpus: 1,
  kernel: { name: img.kernel, data: new Uint8Array(readFileSync(img.kernel)) },
  initrd: { name: "initrd", data: concatArchives(new Uint8Array(readFileSync(img.initramfs)), commandArchive(cmd)) },
  cmdline: withNetCmdline(DEFAULT_CMDLINE, nets.cmdline),
  console: (b) => {
    const s = Buffer.from(b).toString("latin1");
    log += s;
    if (!on && log.includes("@@PROF-ON@@\r\n")) {
      on = true;
      t0 = performance.now();
      r0 = m.retired;
      hostProf?.start();
    }
    if (on && log.includes("@@PROF-OFF@@")) {
      if (on === true) {
        t1 = performance.now();
        r1 = m.retired;
        hostProf?.stop();
      }
      on = "done";
    }
  },
  virtio,
});
let t0 = 0,
  t1 = 0,
  r0 = 0,
  r1 = 0;
// --counts: how often the engine's slow paths run inside the window (wrapping slows the run; the counts stay exact).
const counts = {};
if (values.counts) {
  const wrap = (proto, name, key = name) => {
    const f = proto[name];
    proto[name] = function (...a) {
      if (on === true) counts[key] = (counts[key] ?? 0) + 1;
      return f.apply(this, a);
    };
  };
  const H = Object.getPrototypeOf(m.harts[0]);
  for (const n of [
    "loadSlow",
    "storeSlow",
    "enterTrap",
    "pollInterrupts",
    "flushTlb",
    "flushTlbPage",
    "updateContexts",
  ])
    wrap(H, n);
  const C = Object.getPrototypeOf(m.cache);
  for (const n of ["next", "blockAt", "build", "compile", "invalidatePage"]) wrap(C, n);
}
const samples = new Map();
// The scheduler of Machine.run, with a pc sample after each hart's slice.
const origRun = m.run.bind(m);
const hart = m.harts[0];
const SLICE = Number(process.env.SLICE ?? 2000);
let calls = 0,
  short = 0,
  sleeps = 0;
// --stacks: each sample also walks the kernel's frame-pointer chain (s0; ra at fp-8, the caller's
// fp at fp-16) for the callers of the hottest functions.
const stackSamples = [];
const pair = (r) => hart.x[2 * r + 1] * 4294967296 + (hart.x[2 * r] >>> 0);
function callers() {
  const out = [pair(1)];
  let fp = pair(8);
  for (let k = 0; k < 8 && fp < 0; k++) {
    try {
      const lo = (fp - 8) | 0;
      const ra = hart.ld(fp - 8, lo) >>> 0;
      const raHi = hart.hiOut;
      const prev = hart.ld(fp - 16, (fp - 16) | 0) >>> 0;
      const prevHi = hart.hiOut;
      out.push(raHi * 4294967296 + ra);
      fp = prevHi * 4294967296 + prev;
    } catch {
      break;
    }
  }
  return out;
}
m.run = async () => {
  let last = performance.now();
  while (m.exited === null) {
    if (hart.state === HartState.Started && !hart.sleeping) {
      const n = runHart(hart, m.cache, SLICE);
      m.retired += n;
      if (on === true) {
        calls++;
        if (n < SLICE) short++;
      }
      if (on === true) {
        const pc = hart.pc;
        samples.set(pc, (samples.get(pc) ?? 0) + 1);
        if (values.stacks) stackSamples.push([pc, ...callers()]);
      }
    } else {
      if (on === true) {
        sleeps++;
        samples.set("idle", (samples.get("idle") ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    m["pollTimers"]();
    if (performance.now() - last > 8) {
      await new Promise((r) => setImmediate(r));
      last = performance.now();
    }
  }
  return m.exited;
};
if (values["no-sample"]) m.run = origRun;
const progress = setInterval(() => process.stderr.write(`[${m.retired} ${JSON.stringify(log.slice(-200))}]\n`), 10000);
const exit = await m.run();
clearInterval(progress);
m.close();
if (values.counts) console.log("counts", JSON.stringify(counts));
console.log(`runHart calls ${calls}, short ${short}, idle waits ${sleeps}`);
const syms = [];
const raw = readFileSync(symDisk);
const symText = raw.subarray(0, raw.indexOf(0)).toString("latin1");
rmSync(dirname(symDisk), { recursive: true, force: true });
for (const line of symText.split(/\r?\n/)) {
  const f = line.trim().split(/\s+/);
  if (f.length >= 3 && /^[0-9a-f]{16}$/.test(f[0])) syms.push([BigInt("0x" + f[0]), f[2]]);
}
syms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
/** The kernel function holding `pc` (the last symbol at or below it), or "(user)". */
function sym(pc) {
  const v = BigInt.asUintN(64, BigInt(pc));
  if (v < 0x8000000000000000n) return "(user)";
  let lo = 0,
    hi = syms.length - 1,
    best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (syms[mid][0] <= v) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best >= 0 ? syms[best][1] : "?";
}
const byFn = new Map();
let total = 0;
for (const [pc, n] of samples) {
  total += n;
  const name = pc === "idle" ? "idle" : sym(pc);
  byFn.set(name, (byFn.get(name) ?? 0) + n);
}
if (values.stacks) {
  const top = [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([n]) => n);
  for (const fn of top) {
    const chains = new Map();
    for (const st of stackSamples)
      if (sym(st[0]) === fn) {
        const k = st.slice(1).map(sym).join(" < ");
        chains.set(k, (chains.get(k) ?? 0) + 1);
      }
    console.log(`callers of ${fn}:`);
    for (const [k, n] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${n}  ${k}`);
  }
}
const out = log.slice(log.indexOf("@@PROF-ON@@"), log.indexOf("@@PROF-OFF@@")).slice(0, 3000);
console.log(out);
if (process.env.SHOWLOG) console.log(log.slice(-3000));
console.log(
  `exit ${exit.kind}; window ${((t1 - t0) / 1000).toFixed(2)} s, ${((r1 - r0) / 1e6).toFixed(1)} M instructions, ${((r1 - r0) / (t1 - t0) / 1000).toFixed(1)} MIPS, ${syms.length} symbols`,
);
for (const [name, n] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top ?? 40)))
  console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${name}`);
