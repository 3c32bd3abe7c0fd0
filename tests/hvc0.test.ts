// hvc0 as the guest console (`corral run --console hvc0`, Corral.start({ console: "hvc0" })): the
// kernel's console, /init's shell and the host terminal move to virtio-console port 0, while the
// UART stays on the board. Each case boots the real Debian guest and asks the guest's kernel
// (/proc/consoles) and shell (tty) where the console is.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral } from "../src/api/index.js";
import { vmDir } from "../src/vm/state.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 600_000, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The console lines of /proc/consoles: "name flags (CFLAGS) major:minor". */
function consoles(procConsoles: string): { name: string; enabled: boolean }[] {
  return procConsoles
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => ({ name: l.split(/\s+/)[0]!, enabled: /\(E/.test(l) }));
}

/** Output of a child so far, and a bounded wait (a hang guard, not a timing check) for a pattern in it. */
function watch(p: ChildProcessWithoutNullStreams): { text: () => string; until: (re: RegExp) => Promise<void> } {
  let out = "";
  p.stdout.on("data", (b: Buffer) => (out += b.toString("latin1")));
  p.stderr.on("data", (b: Buffer) => (out += b.toString("latin1")));
  return {
    text: () => out,
    until: async (re) => {
      for (let i = 0; i < 3000 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, re);
    },
  };
}

test("--console with an unknown device: one line naming the choices, exit 2", () => {
  const r = corral(["run", "--console", "foo"]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "corral: --console must be one of ttyS0, hvc0 (got 'foo')\n");
  assert.match(corral(["run", "--help"]).stdout, /^ {2}--console DEV .*ttyS0.*\n.*hvc0/m);
});

test("corral run --console hvc0 -- cmd: the kernel's console is hvc0, and the command's output and status come back", () => {
  const r = corral(["run", "--console", "hvc0", "--", "sh", "-c", "cat /proc/consoles; exit 3"]);
  assert.equal(r.status, 3, r.stderr);
  assert.deepEqual(consoles(r.stdout), [{ name: "hvc0", enabled: true }], r.stdout);
});

test("corral run --console ttyS0 -- cmd: the UART stays the console", () => {
  const r = corral(["run", "--console", "ttyS0", "--", "cat", "/proc/consoles"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(consoles(r.stdout), [{ name: "ttyS0", enabled: true }], r.stdout);
});

test("corral run --console hvc0: the interactive shell runs on /dev/hvc0 and takes this terminal's input", async () => {
  const p = spawn(process.execPath, [CORRAL, "run", "--console", "hvc0"]);
  const out = watch(p);
  await out.until(/root@corral:\/# /);
  const n = 1000 + Math.floor(Math.random() * 1e6);
  p.stdin.write(`tty; echo hv-$((${n}+1))\n`);
  await out.until(new RegExp(`hv-${n + 1}`));
  assert.match(out.text(), /^\/dev\/hvc0\r?$/m);
  p.stdin.write("poweroff\n");
  const code = await new Promise<number | null>((r) => p.on("close", r));
  assert.equal(code, 0, out.text());
});

test("commands piped into `corral run --console hvc0` before the guest's shell starts all reach it", () => {
  // Two ways they were lost: Linux discards input that reaches port 0 before its console is set
  // up (the device now waits for the driver's PORT_OPEN), and /init used to probe for the console
  // by opening and closing it (the last close of a tty discards its input; it now waits in sysfs).
  const r = spawnSync(process.execPath, [CORRAL, "run", "--console", "hvc0"], {
    encoding: "utf8",
    timeout: 600_000,
    input: "echo piped-$((6*7))\npoweroff\n",
  });
  assert.match(r.stdout, /^piped-42\r?$/m, r.stdout.slice(-1000));
  assert.equal(r.status, 0);
});

test("a detached VM with console hvc0 (TypeScript API): exec sees hvc0; corral console attaches to the shell on /dev/hvc0", async () => {
  await assert.rejects(Corral.start({ console: "foo" as "hvc0" }), {
    code: "BAD_CONSOLE",
    message: "console must be one of ttyS0, hvc0 (got 'foo')",
  });
  const name = `t-hvc0-${process.pid}`;
  const vm = await Corral.start({ name, memory: "256M", console: "hvc0" });
  try {
    const r = await vm.exec(["cat", "/proc/consoles"]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(consoles(r.stdout), [{ name: "hvc0", enabled: true }], r.stdout);

    const p = spawn(process.execPath, [CORRAL, "console", name]);
    const out = watch(p);
    // The console replays its recent output on attach: look for a sum not printed before.
    const n = 1000 + Math.floor(Math.random() * 1e6);
    p.stdin.write(`tty; echo con-$((${n}+1))\n`);
    await out.until(new RegExp(`con-${n + 1}`));
    assert.match(out.text(), /^\/dev\/hvc0\r?$/m);
    p.stdin.write("\x01x");
    assert.equal(await new Promise<number | null>((r) => p.on("close", r)), 0);
  } finally {
    await vm.stop({ timeoutMs: 5000 });
    rmSync(vmDir(name), { recursive: true, force: true });
  }
});
