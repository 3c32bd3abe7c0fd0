/**
 * Round-trip time of `exec true` in a running VM: through the TypeScript API (control socket,
 * agent port, the compiled guest agent's one fork and exec, back), and through the `corral exec`
 * CLI (plus Node's start-up); and of an exec that streams 1 MiB of output back.
 * One VM is booted and reused; the boot is not part of the figure. The peer: QEMU booting the same
 * kernel and initramfs with a virtio-serial port of the same name, so the same guest agent
 * answers, driven with the same protocol frames over QEMU's chardev socket (QEMU has no exec path
 * of its own). Returns markdown for docs/benchmarks.md ("Exec").
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { Corral, type Vm } from "../api/index.js";
import { DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import {
  AGENT_PORT_NAME,
  AGENT_VERSION,
  execFrame,
  LineSplitter,
  parseAgentLine,
  SHUTDOWN_FRAME,
} from "../vm/agent/protocol.js";
import { killOnInterrupt, tempDir } from "./cleanup.js";
import { CORRAL } from "./launcher.js";

function stats(xs: number[]): { median: number; p90: number; min: number } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)]!,
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]!,
    min: s[0]!,
  };
}

/** What each exec case runs, and the bytes of stdout it must deliver. */
const OUTPUT_BYTES = 1 << 20;
const CASES = {
  true: { argv: ["true"], stdout: 0 },
  output: { argv: ["head", "-c", String(OUTPUT_BYTES), "/dev/zero"], stdout: OUTPUT_BYTES },
} as const;
type Case = keyof typeof CASES;
type Times = Record<Case, number[]>;

/** A booted peer: runs one case and returns its round trip in ms. */
interface Peer {
  run(c: Case): Promise<number>;
  close(): Promise<void>;
}

/** A QEMU guest whose agent is driven through its chardev socket (see the top of this file). */
async function qemuPeer(): Promise<Peer> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-exec-");
  const sock = join(dir, "agent.sock");
  const qemu = spawn(
    "qemu-system-riscv64",
    [
      ...["-M", "virt", "-smp", "1", "-m", "512", "-nographic", "-no-reboot"],
      ...["-global", "virtio-mmio.force-legacy=false", "-kernel", img.kernel, "-initrd", img.initramfs],
      ...["-append", DEFAULT_CMDLINE, "-device", "virtio-serial-device"],
      ...["-chardev", `socket,id=ag,path=${sock},server=on,wait=off`],
      ...["-device", `virtserialport,chardev=ag,name=${AGENT_PORT_NAME}`],
    ],
    { stdio: "ignore" },
  );
  killOnInterrupt(qemu);
  const close = async (): Promise<void> => {
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 600 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const s: Socket = createConnection(sock);
    const waiters = new Map<string, (status: number) => void>();
    const received = new Map<number, number>();
    const lines = new LineSplitter((line) => {
      const m = parseAgentLine(line);
      if (m?.kind === "hello" && m.version !== AGENT_VERSION) throw new Error(`agent protocol ${m.version}`);
      if (m?.kind === "output" && m.fd === 1) received.set(m.id, (received.get(m.id) ?? 0) + m.data.length);
      const key = m?.kind === "hello" ? "hello" : m?.kind === "exit" ? `exit ${m.id}` : undefined;
      if (key) waiters.get(key)?.(m?.kind === "exit" ? m.status : 0);
    });
    s.on("data", (b: Buffer) => lines.push(b));
    const wait = (key: string): Promise<number> => new Promise((r) => waiters.set(key, r));
    await wait("hello");
    let id = 0;
    return {
      run: async (c) => {
        const t = performance.now();
        const done = wait(`exit ${++id}`);
        s.write(execFrame(id, { argv: CASES[c].argv }, false));
        const status = await done;
        const ms = performance.now() - t;
        if (status !== 0 || (received.get(id) ?? 0) !== CASES[c].stdout)
          throw new Error(`QEMU: ${c} exited ${status} with ${received.get(id) ?? 0} bytes`);
        return ms;
      },
      close: async () => {
        s.write(SHUTDOWN_FRAME);
        s.destroy();
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Both guests are booted first, then the runs alternate between them, so that the load of this
 * shared machine falls on both alike.
 */
export async function benchExec(runs = 20, outputRuns = 5): Promise<string> {
  const qemu = await qemuPeer();
  let vm: Vm | undefined;
  try {
    vm = await Corral.start({ name: `bench-exec-${process.pid}`, memory: "512M" });
    const corral = vm;
    const api = async (c: Case): Promise<number> => {
      const t = performance.now();
      const r = await corral.exec([...CASES[c].argv]);
      const ms = performance.now() - t;
      if (r.exitCode !== 0 || r.stdoutBytes.length !== CASES[c].stdout)
        throw new Error(`exec ${c} exited ${r.exitCode} with ${r.stdoutBytes.length} bytes`);
      return ms;
    };
    const q: Times = { true: [], output: [] };
    const a: Times = { true: [], output: [] };
    for (const [c, n] of [
      ["true", runs],
      ["output", outputRuns],
    ] as const) {
      // The first of each warms the guests' page caches.
      await qemu.run(c);
      await api(c);
      for (let i = 0; i < n; i++) {
        q[c].push(await qemu.run(c));
        a[c].push(await api(c));
      }
    }
    const cli: number[] = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      const t = performance.now();
      const r = spawnSync(CORRAL, ["exec", vm.name, "--", "true"]);
      cli.push(performance.now() - t);
      if (r.status !== 0) throw new Error(`corral exec true exited ${String(r.status)}: ${r.stderr.toString()}`);
    }
    const ms = (x: number): string => `${x.toFixed(0)} ms`;
    const row = (what: string, xs: number[], peer: number[]): string => {
      const st = stats(xs);
      return `| ${what} | ${ms(st.median)} | ${ms(st.p90)} | ${ms(st.min)} | ${(st.median / stats(peer).median).toFixed(2)}x |`;
    };
    return [
      `### Exec round trip (compiled guest agent; a running default guest, 1 hart, 512 MiB; ${runs} runs of \`true\`, ${outputRuns} of 1 MiB of output, alternating with QEMU's)`,
      "",
      "| path | median | p90 | min | median / QEMU's |",
      "|---|---|---|---|---|",
      row(
        "QEMU: `true`, the same agent over a virtio-serial port, frames written to its chardev socket",
        q.true,
        q.true,
      ),
      row('Corral API `vm.exec(["true"])`', a.true, q.true),
      row("Corral CLI `corral exec NAME -- true` (Node's start-up included)", cli, q.true),
      row("QEMU: `head -c 1M /dev/zero` (1 MiB back as O lines)", q.output, q.output),
      row("Corral API: `head -c 1M /dev/zero`", a.output, q.output),
      "",
    ].join("\n");
  } finally {
    await qemu.close();
    if (vm) {
      await vm.remove({ force: true });
    }
  }
}
