/**
 * The peer of the restore figure: QEMU restoring the same guest from a saved state. QEMU boots the
 * default kernel and initramfs with 256 MiB and the guest agent on a virtio-serial port (as in
 * exec.ts), answers one `exec true`, and its state is saved through the monitor (`migrate
 * "exec:cat > FILE"`, QEMU's way of writing a VM's state to a file); each round then
 * times a new `qemu-system-riscv64 ... -incoming "exec:cat FILE"` from its start to the restored
 * agent's answer to `exec true`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync, statSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import { AGENT_PORT_NAME, execFrame, LineSplitter, parseAgentLine, SHUTDOWN_FRAME } from "../vm/agent/protocol.js";
import { killOnInterrupt, tempDir } from "./cleanup.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `p`, or an error once `ms` have passed or QEMU `proc` has exited: a QEMU whose restore fails
 * (or a socket that never answers) would otherwise leave the bench waiting for ever.
 */
function within<T>(p: Promise<T>, ms: number, proc: ChildProcess, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onExit: (() => void) | undefined;
  const fail = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`QEMU: no ${what} within ${ms / 1000} s`)), ms);
    onExit = () => reject(new Error(`QEMU exited before ${what}`));
    proc.once("exit", onExit);
  });
  return Promise.race([p, fail]).finally(() => {
    clearTimeout(timer);
    if (onExit) proc.off("exit", onExit);
  });
}

async function connect(path: string): Promise<Socket> {
  for (let i = 0; i < 3000 && !existsSync(path); i++) await sleep(10);
  return createConnection(path);
}

/** An agent connection: waits for hello (when `hello`), runs `exec true` with `id`. */
function agentOn(s: Socket): { hello: Promise<void>; execTrue(id: number): Promise<number> } {
  const waiters = new Map<string, (status: number) => void>();
  let helloed = false;
  const lines = new LineSplitter((line) => {
    const m = parseAgentLine(line);
    if (m?.kind === "hello") {
      helloed = true;
      waiters.get("hello")?.(0);
    }
    if (m?.kind === "exit") waiters.get(`exit ${m.id}`)?.(m.status);
  });
  s.on("data", (b: Buffer) => lines.push(b));
  s.on("error", () => {});
  return {
    hello: helloed ? Promise.resolve() : new Promise<void>((r) => waiters.set("hello", () => r())),
    execTrue: (id) => {
      const done = new Promise<number>((r) => waiters.set(`exit ${id}`, r));
      s.write(execFrame(id, { argv: ["true"] }, false));
      return done;
    },
  };
}

function qemu(dir: string, img: { kernel: string; initramfs: string }, extra: string[]): ChildProcess {
  const p = spawn(
    "qemu-system-riscv64",
    [
      ...["-M", "virt", "-smp", "1", "-m", "256", "-nographic", "-no-reboot"],
      ...["-global", "virtio-mmio.force-legacy=false", "-kernel", img.kernel, "-initrd", img.initramfs],
      ...["-append", DEFAULT_CMDLINE, "-device", "virtio-serial-device"],
      ...["-chardev", `socket,id=ag,path=${join(dir, "agent.sock")},server=on,wait=off`],
      ...["-device", `virtserialport,chardev=ag,name=${AGENT_PORT_NAME}`],
      ...["-monitor", `unix:${join(dir, "mon.sock")},server=on,wait=off`],
      ...extra,
    ],
    { stdio: "ignore" },
  );
  killOnInterrupt(p);
  return p;
}

/** Milliseconds from starting QEMU with -incoming to the restored agent's answer, once per round. */
export async function qemuRestore(rounds: number): Promise<number[]> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-qemu-restore-");
  const state = join(dir, "state.bin");
  const procs: ChildProcess[] = [];
  try {
    const boot = qemu(dir, img, []);
    procs.push(boot);
    const s = await connect(join(dir, "agent.sock"));
    const agent = agentOn(s);
    await within(agent.hello, 600_000, boot, "agent hello after boot");
    if ((await within(agent.execTrue(1), 60_000, boot, "answer to exec true")) !== 0)
      throw new Error("QEMU: exec true failed");
    const mon = await connect(join(dir, "mon.sock"));
    let out = "";
    mon.on("data", (b: Buffer) => (out += b.toString("latin1")));
    // Saved while it runs (QEMU stops it when done): a state saved from a stopped VM would come
    // back stopped (QEMU keeps the source's run state).
    mon.write(`migrate "exec:cat > ${state}"\n`);
    for (let i = 0; i < 6000; i++) {
      await sleep(100);
      mon.write("info migrate\n");
      if (/Migration status: completed/.test(out)) break;
      if (/Migration status: failed/.test(out)) throw new Error("QEMU: saving the state failed");
    }
    if (!existsSync(state) || statSync(state).size === 0) throw new Error("QEMU: no saved state");
    mon.write("quit\n");
    s.destroy();
    mon.destroy();
    boot.kill("SIGKILL");
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      rmSync(join(dir, "agent.sock"), { force: true });
      rmSync(join(dir, "mon.sock"), { force: true });
      const t = performance.now();
      const p = qemu(dir, img, ["-incoming", `exec:cat ${state}`]);
      procs.push(p);
      const a = await connect(join(dir, "agent.sock"));
      const status = await within(agentOn(a).execTrue(100 + r), 120_000, p, "answer to exec true after -incoming");
      times.push(performance.now() - t);
      if (status !== 0) throw new Error("QEMU: exec true after -incoming failed");
      a.write(SHUTDOWN_FRAME);
      a.destroy();
      p.kill("SIGKILL");
    }
    return times;
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
