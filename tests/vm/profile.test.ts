/**
 * `corral run --profile FILE` on the real default guest: boot it, stop it, and read the profile
 * it leaves. Symbols are checked against the image's real System.map and against the guest
 * kernel's own /proc/kallsyms; a kernel without a System.map beside it gives raw addresses.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { sharedImage } from "../../src/image/testing.js";
import { CORRAL, oneLineError } from "./scratch-home.js";

const dir = mkdtempSync(join(tmpdir(), "corral-profile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Stopped {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Boot `corral run ARGS` on a pipe, type `input` once the guest's console takes it, wait for
 * `until` in its output (computed by the shell, so the console's echo of the input does not
 * match), then stop it with SIGTERM, as a user's kill would.
 */
function bootAndStop(args: string[], input: string, until: RegExp): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CORRAL, "run", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let stopped = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no ${String(until)} in the console within 10 minutes:\n${stdout.slice(-2000)}`));
    }, 600_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("latin1");
      if (!stopped && until.test(stdout)) {
        stopped = true;
        child.kill("SIGTERM");
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.write(input);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The report's rows of one table: the lines after the heading that starts with `head`, up to a blank line. */
function table(report: string, head: string): string[] {
  const lines = report.split("\n");
  const at = lines.findIndex((l) => l.startsWith(head));
  assert.ok(at >= 0, `no '${head}' in the profile:\n${report}`);
  const end = lines.indexOf("", at + 1);
  return lines.slice(at + 1, end < 0 ? undefined : end);
}

describe("corral run --profile", () => {
  test("an unwritable FILE is refused before boot: one line, status 2, nothing left behind", () => {
    for (const bad of [join(dir, "no-such-dir", "p.txt"), dir, "/proc/version"]) {
      const r = spawnSync(process.execPath, [CORRAL, "run", "--profile", bad, "--", "true"], { encoding: "utf8" });
      oneLineError(r, /--profile .*cannot write there/);
      assert.equal(r.status, 2);
    }
    assert.equal(existsSync(join(dir, "no-such-dir")), false);
  });

  test("boot the default guest and stop it: hot kernel symbols from the real System.map, processes, phases that add up", async () => {
    const img = await sharedImage();
    const out = join(dir, "boot.txt");
    // The guest's own view of two symbols, to hold the System.map's addresses against.
    const r = await bootAndStop(
      ["--profile", out],
      "grep -w -e do_idle -e memset /proc/kallsyms; echo PROFILE-$((40 + 2))\n",
      /PROFILE-42\r?\n/,
    );
    assert.equal(r.status, 143, `stopped by SIGTERM: 128 + 15; stderr: ${r.stderr}`);
    const report = readFileSync(out, "utf8");
    assert.match(report, /^corral profile: stopped by SIGTERM\n/);

    const mapPath = /System\.map: (\S+)\)/.exec(report)?.[1];
    assert.ok(mapPath !== undefined, `the profile names its System.map:\n${report}`);
    const code = new Map<string, string>();
    for (const line of readFileSync(mapPath, "latin1").split("\n")) {
      const [addr, type, name] = line.split(" ");
      if (name !== undefined && /^[tTwW]$/.test(type!)) code.set(name, addr!);
    }
    // The kernel runs where its System.map says (no KASLR): the guest's /proc/kallsyms agrees.
    for (const m of r.stdout.matchAll(/^([0-9a-f]{16}) [tTwW] (do_idle|memset)\r?$/gm))
      assert.equal(m[1], code.get(m[2]!), `${m[2]!}: the guest's address against System.map`);
    assert.equal([...r.stdout.matchAll(/^[0-9a-f]{16} [tTwW] (do_idle|memset)\r?$/gm)].length, 2, r.stdout);

    const hottest = table(report, "-- hottest kernel symbols").map((l) => /^\s*([\d.]+)%  (.+)$/.exec(l)!);
    assert.ok(hottest.length >= 15, report);
    // Every symbol named is a code symbol of the real System.map (modules are the one bucket outside it).
    for (const m of hottest) assert.ok(code.has(m[2]!) || m[2] === "[kernel modules]", `${m[2]!} in System.map`);
    // Boot zeroes and copies pages: the string routines are among the hottest.
    assert.ok(
      hottest.some((m) => ["memset", "memcpy", "clear_page"].includes(m[2]!)),
      `memset/memcpy/clear_page among the hottest:\n${report}`,
    );
    const shares = hottest.map((m) => Number(m[1]));
    assert.deepEqual(
      shares,
      [...shares].sort((a, b) => b - a),
      "heaviest first",
    );

    const procs = table(report, "-- by process").map((l) => /^\s*[\d.]+%  (\S+)/.exec(l)?.[1]);
    assert.ok(procs.includes("swapper/0"), `the idle task, named from guest memory:\n${report}`);
    assert.ok(procs.includes("init"), `the guest's /init:\n${report}`);
    assert.match(report, /mode: kernel \(S\) [\d.]+%, user \(U\) [\d.]+%, firmware \(M\) 0\.0%/);

    const phases = table(report, "== Host").map((l) => /^\s*([\d.]+)%\s+([\d.]+) s  (.+)$/.exec(l)!);
    const total = phases.find((m) => m[3] === "total")!;
    const parts = phases.filter((m) => m[3] !== "total");
    assert.ok(parts.length >= 10, report);
    const sum = parts.reduce((n, m) => n + Number(m[2]), 0);
    assert.ok(Math.abs(sum - Number(total[2])) <= 0.001 * parts.length, `phases ${sum} s against total ${total[2]!} s`);
    const pct = parts.reduce((n, m) => n + Number(m[1]), 0);
    assert.ok(Math.abs(pct - 100) <= 0.05 * parts.length, `phase shares add up to ${pct}%`);
    assert.ok(Number(total[2]) > 0);
    for (const p of ["compiled code (wasm)", "interpreter", "wasm compile", "idle (guest in WFI, waiting for I/O)"])
      assert.ok(
        parts.some((m) => m[3] === p),
        `phase ${p}`,
      );
    // A boot runs both tiers: frames are told apart by their source files (not "other host code").
    for (const p of ["compiled code (wasm)", "interpreter", "run loop, block lookup and decode"])
      assert.ok(Number(parts.find((m) => m[3] === p)![2]) > 0, `time in ${p}:\n${report}`);
    assert.ok(img.kernel.length > 0);
  });

  test("a kernel without a System.map beside it: raw addresses and a one-line note, no crash", async () => {
    const img = await sharedImage();
    const kdir = join(dir, "kernel");
    mkdirSync(kdir);
    copyFileSync(img.kernel, join(kdir, "Image"));
    const out = join(dir, "raw.txt");
    const r = await bootAndStop(
      ["--kernel", join(kdir, "Image"), "--initrd", img.initramfs, "--profile", out],
      "echo PROFILE-$((40 + 2))\n",
      /PROFILE-42\r?\n/,
    );
    assert.equal(r.status, 143, r.stderr);
    const report = readFileSync(out, "utf8");
    const notes = report.split("\n").filter((l) => l.startsWith("note: "));
    assert.equal(notes.length, 1, report);
    assert.match(notes[0]!, /no System\.map beside .*Image: kernel pcs are raw addresses/);
    const hottest = table(report, "-- hottest kernel symbols (no System.map");
    assert.ok(hottest.length > 0);
    for (const l of hottest) assert.match(l, /%  (0xffffffff[0-9a-f]{8}|\(other addresses\))$/);
  });
});
