/**
 * Round-trip time of `exec true` in a running VM: through the TypeScript API (control socket,
 * agent port, guest fork/exec, back), and through the `corral exec` CLI (plus Node's start-up).
 * One VM is booted and reused; the boot is not part of the figure. The peer: QEMU booting the same
 * kernel and initramfs with a virtio-serial port of the same name, so the same guest agent
 * answers, driven with the same protocol frames over QEMU's chardev socket (QEMU has no exec path
 * of its own). Returns markdown for docs/benchmarks.md ("Exec").
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Corral } from "../api/index.js";
import { DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import {
  AGENT_PORT_NAME,
  AGENT_VERSION,
  execFrame,
  execScript,
  LineSplitter,
  parseAgentLine,
  SHUTDOWN_FRAME,
} from "../vm/agent/protocol.js";
import { vmDir } from "../vm/state.js";

const CORRAL = join(dirname(fileURLToPath(import.meta.url)), "../../../bin/corral.js");

function stats(xs: number[]): { median: number; p90: number; min: number } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)]!,
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]!,
    min: s[0]!,
  };
}

/** `exec true` round trips through the guest agent of a QEMU guest (see the top of this file). */
async function qemuExec(runs: number): Promise<number[]> {
  const img = await ensureDefaultImage();
  const dir = mkdtempSync(join(tmpdir(), "corral-bench-exec-"));
  const sock = join(dir, "agent.sock");
  const qemu = spawn(
    "qemu-system-riscv64",
    [
      "-M",
      "virt",
      "-smp",
      "1",
      "-m",
      "512",
      "-nographic",
      "-no-reboot",
      "-global",
      "virtio-mmio.force-legacy=false",
      "-kernel",
      img.kernel,
      "-initrd",
      img.initramfs,
      "-append",
      DEFAULT_CMDLINE,
      "-device",
      "virtio-serial-device",
      "-chardev",
      `socket,id=ag,path=${sock},server=on,wait=off`,
      "-device",
      `virtserialport,chardev=ag,name=${AGENT_PORT_NAME}`,
    ],
    { stdio: "ignore" },
  );
  try {
    for (let i = 0; i < 600 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const s: Socket = createConnection(sock);
    const waiters = new Map<string, () => void>();
    const lines = new LineSplitter((line) => {
      const m = parseAgentLine(line);
      const key = m?.kind === "hello" ? "hello" : m?.kind === "exit" ? `exit ${m.id}` : undefined;
      if (m?.kind === "hello" && m.version !== AGENT_VERSION) throw new Error(`agent protocol ${m.version}`);
      if (key) waiters.get(key)?.();
    });
    s.on("data", (b: Buffer) => lines.push(b));
    const wait = (key: string): Promise<void> => new Promise((r) => waiters.set(key, r));
    await wait("hello");
    const times: number[] = [];
    for (let id = 1; id <= runs + 1; id++) {
      const t = performance.now();
      const done = wait(`exit ${id}`);
      s.write(execFrame(id, execScript(["true"]), false));
      await done;
      if (id > 1) times.push(performance.now() - t); // the first warms the page cache, as for Corral
    }
    s.write(SHUTDOWN_FRAME);
    s.destroy();
    return times;
  } finally {
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchExec(runs = 20): Promise<string> {
  const q = stats(await qemuExec(runs));
  const vm = await Corral.start({ name: `bench-exec-${process.pid}`, memory: "512M" });
  try {
    await vm.exec(["true"]); // warm the guest's page cache for sh and busybox
    const api: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await vm.exec(["true"]);
      api.push(performance.now() - t);
      if (r.exitCode !== 0) throw new Error(`exec true exited ${r.exitCode}`);
    }
    const cli: number[] = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, [CORRAL, "exec", vm.name, "--", "true"]);
      cli.push(performance.now() - t);
      if (r.status !== 0) throw new Error(`corral exec true exited ${String(r.status)}: ${r.stderr.toString()}`);
    }
    const a = stats(api);
    const c = stats(cli);
    const ms = (x: number): string => `${x.toFixed(0)} ms`;
    return [
      `### Exec round trip (\`exec true\` in a running default guest, 1 hart, 512 MiB; ${runs} runs)`,
      "",
      "| path | median | p90 | min | median / QEMU's |",
      "|---|---|---|---|---|",
      `| QEMU: the same agent over a virtio-serial port, frames written to its chardev socket | ${ms(q.median)} | ${ms(q.p90)} | ${ms(q.min)} | 1.00x |`,
      `| Corral API \`vm.exec(["true"])\` | ${ms(a.median)} | ${ms(a.p90)} | ${ms(a.min)} | ${(a.median / q.median).toFixed(2)}x |`,
      `| Corral CLI \`corral exec NAME -- true\` | ${ms(c.median)} | ${ms(c.p90)} | ${ms(c.min)} | ${(c.median / q.median).toFixed(2)}x |`,
      "",
    ].join("\n");
  } finally {
    await vm.stop();
    rmSync(vmDir(vm.name), { recursive: true, force: true });
  }
}
