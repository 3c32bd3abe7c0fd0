// The compiled guest agent (native/corral-agent.c) on its own, driven by raw protocol frames
// through QEMU: the reference machine boots the default kernel and initramfs with a
// virtio-serial port named like Corral's agent port, and this test writes frames to QEMU's
// chardev socket. One guest serves every case. What Corral's own exec path does with the agent
// is in vm.test.ts and exec-tty.test.ts.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEFAULT_CMDLINE } from "../../src/api/guest-command.js";
import { sharedImage } from "../../src/image/testing.js";
import {
  AGENT_MAX_LINE,
  AGENT_PORT_NAME,
  AGENT_VERSION,
  LineSplitter,
  SHUTDOWN_FRAME,
  execFrame,
  identityFrame,
  killFrame,
  parseAgentLine,
  pingFrame,
  type AgentMessage,
  type ExecCommand,
} from "../../src/vm/agent/protocol.js";

const dir = mkdtempSync(join(tmpdir(), "corral-agent-"));
let qemu: ChildProcess;
let sock: Socket;
const seen: AgentMessage[] = [];
const wakers: (() => void)[] = [];
let nextId = 1;

/** Resolves with the first message (seen from now on or already) that `match` accepts. */
async function until(match: (m: AgentMessage) => boolean, from = 0): Promise<AgentMessage> {
  for (let at = from; ;) {
    for (; at < seen.length; at++) if (match(seen[at]!)) return seen[at]!;
    await new Promise<void>((r) => wakers.push(r));
  }
}

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** One exec through raw frames: its status and output. */
async function exec(cmd: ExecCommand): Promise<Result> {
  const id = nextId++;
  const from = seen.length;
  sock.write(execFrame(id, cmd, false));
  const end = (await until((m) => m.kind === "exit" && m.id === id, from)) as { status: number };
  const out = (fd: 1 | 2): string =>
    Buffer.concat(
      seen.slice(from).flatMap((m) => (m.kind === "output" && m.id === id && m.fd === fd ? [m.data] : [])),
    ).toString();
  return { status: end.status, stdout: out(1), stderr: out(2) };
}

async function ping(): Promise<void> {
  const id = nextId++;
  const from = seen.length;
  sock.write(pingFrame(id));
  await until((m) => m.kind === "pong" && m.id === id, from);
}

before(async () => {
  const img = await sharedImage();
  const path = join(dir, "agent.sock");
  qemu = spawn(
    "qemu-system-riscv64",
    [
      ...["-M", "virt", "-smp", "1", "-m", "256", "-nographic", "-no-reboot"],
      ...["-global", "virtio-mmio.force-legacy=false", "-kernel", img.kernel, "-initrd", img.initramfs],
      ...["-append", DEFAULT_CMDLINE, "-device", "virtio-serial-device"],
      ...["-chardev", `socket,id=ag,path=${path},server=on,wait=off`],
      ...["-device", `virtserialport,chardev=ag,name=${AGENT_PORT_NAME}`],
    ],
    { stdio: "ignore" },
  );
  for (let i = 0; i < 600 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 100));
  sock = createConnection(path);
  const lines = new LineSplitter((l) => {
    const m = parseAgentLine(l);
    if (m) seen.push(m);
    for (const w of wakers.splice(0)) w();
  });
  sock.on("data", (b: Buffer) => lines.push(b));
  const hello = await until((m) => m.kind === "hello");
  assert.deepEqual(hello, { kind: "hello", version: AGENT_VERSION });
});

after(() => {
  sock?.write(SHUTDOWN_FRAME);
  sock?.destroy();
  qemu?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("an exec is one fork: the command's pid follows the previous command's", async () => {
  // ns_last_pid is the last pid the kernel gave out. Kernel threads may take one in between, so
  // the closest of a few pairs counts; the shell agent started five processes per exec.
  const gaps: number[] = [];
  for (let i = 0; i < 4; i++) {
    const a = await exec({ argv: ["cat", "/proc/sys/kernel/ns_last_pid"] });
    const b = await exec({ argv: ["cat", "/proc/sys/kernel/ns_last_pid"] });
    gaps.push(Number(b.stdout) - Number(a.stdout));
  }
  assert.equal(Math.min(...gaps), 1, `pid gaps ${gaps.join(", ")}`);
});

test("argv, environment and directory arrive as they were sent; statuses as sh reports them", async () => {
  const r = await exec({
    argv: ["sh", "-c", 'printf "[%s]" "$@" "$GREET" "$PATH" "$(pwd)"', "sh", "a b", "", "it's", "ü\n*"],
    env: { GREET: "hello=world", PATH: "/bin" },
    cwd: "/proc",
  });
  assert.deepEqual(r, { status: 0, stdout: "[a b][][it's][ü\n*][hello=world][/bin][/proc]", stderr: "" });
  assert.equal((await exec({ argv: ["sh", "-c", "exit 3"] })).status, 3);
  assert.equal((await exec({ argv: ["sh", "-c", "kill -TERM $$"] })).status, 128 + 15);
  const missing = await exec({ argv: ["no-such-command"] });
  assert.deepEqual([missing.status, missing.stdout], [127, ""]);
  assert.match(missing.stderr, /^corral: no-such-command: No such file or directory\n$/);
  const notExec = await exec({ argv: ["/etc/passwd"] });
  assert.equal(notExec.status, 126);
  assert.match(notExec.stderr, /^corral: \/etc\/passwd: Permission denied\n$/);
  const badDir = await exec({ argv: ["true"], cwd: "/no/such/dir" });
  assert.equal(badDir.status, 126);
  assert.match(badDir.stderr, /^corral: cd \/no\/such\/dir: No such file or directory\n$/);
});

test("many execs at once, each with its own output; a kill ends one of them", async () => {
  const slow = nextId;
  const from = seen.length;
  sock.write(execFrame(nextId++, { argv: ["sleep", "1000"] }, false));
  const runs = Array.from({ length: 40 }, (_, i) =>
    exec({ argv: ["sh", "-c", `sleep 1; echo out-${i}; echo err-${i} >&2; exit ${i % 7}`] }),
  );
  const results = await Promise.all(runs);
  results.forEach((r, i) => assert.deepEqual(r, { status: i % 7, stdout: `out-${i}\n`, stderr: `err-${i}\n` }));
  sock.write(killFrame(slow));
  const end = await until((m) => m.kind === "exit" && m.id === slow, from);
  assert.deepEqual(end, { kind: "exit", id: slow, status: 137 });
});

test("bad input from the host never takes the agent down", async () => {
  const from = seen.length;
  const junk = [
    "Z 1\n",
    "X\n",
    "X 1 2 3\n",
    "X 999 0 0 0 0 1\n",
    "I 12345 5\nabcde",
    "E 12345\n",
    "W 1 99999 99999\n",
    "K 777\n",
    "K -1\n",
    "P x\n",
    "\r\n\n \n",
    "I 1 99999999999999999999\n",
    "I 1 9999999999999999\n",
    "x".repeat(AGENT_MAX_LINE + 10_000) + "\n",
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) & 0xff).filter((b) => b !== 0x0a)).toString("latin1") +
      "\n",
  ];
  for (const j of junk) sock.write(Buffer.from(j, "latin1"));
  await ping();
  // A request with a valid id but a body the agent cannot read ends that exec, with one line.
  const id = nextId++;
  sock.write(`X ${id} 0 0 0 0 1 !!not-base64!!\n`);
  const end = await until((m) => m.kind === "exit" && m.id === id, from);
  assert.deepEqual(end, { kind: "exit", id, status: 126 });
  const counts = `X ${nextId++} 0 0 0 5 1 ${Buffer.from("\0true\0").toString("base64")}\n`;
  sock.write(counts);
  const wrongCount = await until((m) => m.kind === "exit" && m.id === nextId - 1, from);
  assert.deepEqual(wrongCount, { kind: "exit", id: nextId - 1, status: 126 });
  // Still serving: an ordinary exec works.
  assert.deepEqual(await exec({ argv: ["echo", "still here"] }), { status: 0, stdout: "still here\n", stderr: "" });
});

/** A T frame: the agent's answer (its errno). */
async function setIdentity(frame: string, id: number): Promise<number> {
  const from = seen.length;
  sock.write(frame);
  const m = await until((x) => x.kind === "identity" && x.id === id, from);
  return (m as { errno: number }).errno;
}

test(
  "a T frame sets the wall clock and hostname with no guest process started; bad ones change nothing",
  { timeout: 120_000 },
  async () => {
    // Five years ahead of the host, so no clock the guest kept by itself is mistaken for the one set.
    const target = Date.now() + 5 * 365 * 86_400_000;
    const pidBefore = Number((await exec({ argv: ["cat", "/proc/sys/kernel/ns_last_pid"] })).stdout);
    let id = nextId++;
    assert.equal(await setIdentity(identityFrame(id, { epochMs: target, hostname: "clone-7.example" }), id), 0);
    const r = await exec({ argv: ["sh", "-c", "cat /proc/sys/kernel/ns_last_pid; date +%s; hostname"] });
    const [pidAfter, secs, host] = r.stdout.trim().split("\n");
    // The sh and its cat take the next two pids: the T frame started no process (a `date` and a
    // `hostname` would have taken two more, and their sh one; one kernel thread in between is allowed).
    assert.ok(Number(pidAfter) - pidBefore <= 3, `pids ${pidBefore} then ${pidAfter}`);
    assert.ok(Math.abs(Number(secs) - target / 1000) < 60, `guest clock ${secs}, set to ${target / 1000}`);
    assert.equal(host, "clone-7.example");
    // Without a hostname only the clock is set.
    id = nextId++;
    assert.equal(await setIdentity(identityFrame(id, { epochMs: Date.now() }), id), 0);
    const now = await exec({ argv: ["sh", "-c", "date +%s; hostname"] });
    const [s2, h2] = now.stdout.trim().split("\n");
    assert.ok(Math.abs(Number(s2) - Date.now() / 1000) < 60, `guest clock ${s2}`);
    assert.equal(h2, "clone-7.example");
    // Malformed: nanoseconds out of range, a hostname too long or not base64: EINVAL (22), nothing set.
    const long = Buffer.alloc(65, "a").toString("base64");
    for (const bad of [`T ${nextId} 1 1000000000 -`, `T ${nextId + 1} 1 0 ${long}`, `T ${nextId + 2} 1 0 !!`])
      sock.write(bad + "\n");
    for (let i = 0; i < 3; i++) {
      const bid = nextId++;
      const m = await until((x) => x.kind === "identity" && x.id === bid);
      assert.deepEqual(m, { kind: "identity", id: bid, errno: 22 });
    }
    const after = await exec({ argv: ["sh", "-c", "date +%s; hostname"] });
    const [s3, h3] = after.stdout.trim().split("\n");
    assert.ok(Math.abs(Number(s3) - Date.now() / 1000) < 60, `guest clock ${s3}`);
    assert.equal(h3, "clone-7.example");
  },
);
