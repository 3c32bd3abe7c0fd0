// exec with streamed stdin and with a terminal (-t), end to end with the Debian guest: one VM
// boots once (`corral run -d`) and every case runs against it, through the CLI and the API.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral, type ExecRun, type Vm } from "../../src/api/index.js";
import { VM_FILES, vmDir } from "../../src/vm/state.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const NAME = `t-tty-${process.pid}`;
const HAS_SCRIPT = spawnSync("script", ["--version"]).status === 0;
let vm: Vm;

function corral(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 400_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Output collected as it arrives, with a way to wait until it holds some text. */
class Collector {
  text = "";
  private wake: (() => void) | undefined;
  readonly push = (b: Buffer | string): void => {
    this.text += b.toString();
    this.wake?.();
  };
  async until(s: string): Promise<void> {
    while (!this.text.includes(s)) await new Promise<void>((r) => (this.wake = r));
  }
}

/** Stdin that sends each item only once the output shows what the previous one caused. */
async function* paced(out: Collector, steps: { send: string; then?: string }[]): AsyncGenerator<string> {
  for (const s of steps) {
    yield s.send;
    if (s.then !== undefined) await out.until(s.then);
  }
}

before(async () => {
  const r = spawnSync(process.execPath, [CORRAL, "run", "-d", "--name", NAME, "--memory", "256M"], {
    encoding: "utf8",
    timeout: 400_000,
  });
  assert.equal(r.status, 0, r.stderr);
  vm = Corral.get(NAME);
});

after(() => {
  if (existsSync(join(vmDir(NAME), VM_FILES.record))) corral(["stop", "-t", "1", NAME]);
  rmSync(vmDir(NAME), { recursive: true, force: true });
});

test("streamed stdin: each line reaches cat before the next is written; the end of stdin ends cat", async () => {
  const out = new Collector();
  // The second line is written only once cat has echoed the first: stdin read to its end
  // before the command starts would never get there.
  const r = await vm.exec(["cat"], {
    stdin: paced(out, [
      { send: "one\n", then: "one\n" },
      { send: "two\n", then: "one\ntwo\n" },
    ]),
    onStdout: out.push,
  });
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, "one\ntwo\n");
});

test("CLI: exec -i passes stdin on as it comes", async () => {
  const p = spawn(process.execPath, [CORRAL, "exec", "-i", NAME, "--", "cat"]);
  const out = new Collector();
  p.stdout.on("data", out.push);
  const code = new Promise<number | null>((r) => p.on("close", r));
  p.stdin.write("first line\n");
  await out.until("first line\n");
  p.stdin.write("second line\n");
  await out.until("second line\n");
  p.stdin.end();
  assert.equal(await code, 0);
  assert.equal(out.text, "first line\nsecond line\n");
});

test("a command that never reads its stdin does not stall other execs", async () => {
  let sent = 0;
  let stop = false;
  let enough: () => void = () => {};
  const filled = new Promise<void>((r) => (enough = r));
  // More than the guest's FIFO (64 KiB) and the agent's window (48 KiB) hold: the feeder is
  // blocked on a command that never reads, while the daemon queues the rest.
  async function* flood(): AsyncGenerator<Uint8Array> {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    while (!stop) {
      yield chunk;
      sent += chunk.length;
      if (sent >= 256 * 1024) enough();
    }
  }
  assert.equal((await vm.exec(["sh", "-c", "rm -f /tmp/gate; mkfifo /tmp/gate"])).exitCode, 0);
  // Waits on a FIFO of its own (no CPU spent polling) and never reads its stdin.
  const deaf = vm.exec(["sh", "-c", "read x < /tmp/gate; echo released-$x"], { stdin: flood() });
  await filled;
  const plain = await vm.exec(["sh", "-c", "echo alive; echo warn >&2; exit 4"]);
  assert.deepEqual([plain.exitCode, plain.stdout, plain.stderr], [4, "alive\n", "warn\n"]);
  const out = new Collector();
  const other = await vm.exec(["sh", "-c", "read a; echo got-$a; read b; echo got-$b"], {
    stdin: paced(out, [{ send: "x\n", then: "got-x" }, { send: "y\n" }]),
    onStdout: out.push,
  });
  assert.equal(other.stdout, "got-x\ngot-y\n");
  assert.equal((await vm.exec(["sh", "-c", "echo go > /tmp/gate"])).exitCode, 0);
  const r = await deaf;
  stop = true;
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, "released-go\n");
});

test("-t: the command sees a terminal; stdout and stderr are one stream; TERM comes from the host", async () => {
  const r = await vm.exec(["sh", "-c", "tty; test -t 0 && test -t 1 && echo both-ttys; echo $TERM; echo err >&2"], {
    tty: true,
    env: { TERM: "vt220" },
  });
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r\nboth-ttys\r\nvt220\r\nerr\r\n$/);
  assert.equal(r.stderr, "");
  const env = { ...process.env };
  delete env["TERM"];
  const cli = corral(["exec", "-t", NAME, "--", "sh", "-c", "echo $TERM; stty size; exit 5"], env);
  assert.equal(cli.status, 5);
  // Not a terminal here: xterm, 24x80.
  assert.equal(cli.stdout, "xterm\r\n24 80\r\n");
});

test("-t: the size sent, then a resize seen by the same command (with SIGWINCH)", async () => {
  const out = new Collector();
  const session: { run?: ExecRun } = {};
  // The command waits for the new size itself rather than for a typed line: a trapped SIGWINCH
  // interrupts busybox sh's `read`, and busybox stty sets rows and cols with one ioctl each (so
  // one or two SIGWINCHs). The kernel signals before it stores the new size (tty_do_resize), so
  // once the loop sees 50 132 the trap is pending and runs before the last `stty size`.
  const run = vm.exec(
    [
      "sh",
      "-c",
      "trap 'echo winch' WINCH; stty size; until [ \"$(stty size)\" = '50 132' ]; do sleep 0.1; done; stty size",
    ],
    {
      tty: { rows: 33, cols: 101 },
      stdin: (async function* () {
        await out.until("33 101\r\n");
        session.run?.resize(50, 132);
        await out.until("50 132");
      })(),
      onStdout: out.push,
    },
  );
  session.run = run;
  const r = await run;
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /^33 101\r\n[^]*winch\r\n[^]*50 132\r\n$/);
});

test("-t: Ctrl-C interrupts the command (status 130) and the VM keeps running", async () => {
  const out = new Collector();
  const r = await vm.exec(["sh", "-c", "echo ready; exec sleep 100"], {
    tty: true,
    stdin: paced(out, [
      { send: "", then: "ready" },
      { send: "\x03", then: "never printed" },
    ]),
    onStdout: out.push,
  });
  assert.equal(r.exitCode, 130);
  assert.match(r.stdout, /\^C/);
  assert.equal((await vm.exec(["true"])).exitCode, 0);
  assert.equal((await vm.info()).state, "running");
});

test("-t: the end of a stdin stream is Ctrl-D; a timeout kills the command", async () => {
  const r = await vm.exec(["cat"], { tty: true, stdin: "typed\n" });
  assert.equal(r.exitCode, 0);
  // The terminal echoes the line, then cat prints it.
  assert.equal(r.stdout.split("typed\r\n").length - 1, 2, JSON.stringify(r.stdout));
  const t = await vm.exec(["sleep", "100"], { tty: true, timeoutMs: 1500 });
  assert.equal(t.timedOut, true);
  assert.equal(t.exitCode, 137);
});

test(
  "CLI: exec -it on a real terminal: raw mode while attached, Ctrl-C reaches the guest, the terminal is restored",
  { skip: !HAS_SCRIPT && "util-linux script is not installed" },
  async () => {
    // util-linux script gives the shell a pseudo-terminal; the shell prints its settings before and after.
    const sh = `stty rows 40 cols 120; echo "before=$(stty -g)"; "${process.execPath}" "${CORRAL}" exec -it ${NAME} -- sh -c 'stty size; tty; echo ready; exec sleep 100'; echo "status=$?"; echo "after=$(stty -g)"`;
    const p = spawn("script", ["-q", "-e", "-c", sh, "/dev/null"]);
    const out = new Collector();
    p.stdout.on("data", out.push);
    const code = new Promise<number | null>((r) => p.on("close", r));
    await out.until("ready");
    p.stdin.write("\x03");
    await out.until("after=");
    p.stdin.end();
    await code;
    const before = /before=(\S+)/.exec(out.text)?.[1];
    const afterSettings = /after=(\S+)/.exec(out.text)?.[1];
    assert.ok(before, out.text);
    assert.equal(afterSettings, before, "the terminal settings are restored");
    assert.match(out.text, /status=130/);
    assert.match(out.text, /40 120\r+\n\/dev\/pts\/\d+/);
  },
);

test(
  "CLI: exec -it killed by a signal restores the terminal, and its command goes with it",
  { skip: !HAS_SCRIPT && "util-linux script is not installed" },
  async () => {
    const fifo = join(vmDir(NAME), "go");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
    // The shell starts corral in the background, waits for the test's word, then sends SIGTERM.
    const sh = `echo "before=$(stty -g)"; "${process.execPath}" "${CORRAL}" exec -it ${NAME} -- sh -c 'echo ready; exec sleep 4321' & p=$!; read x < "${fifo}"; kill -TERM $p; wait $p; echo "status=$?"; echo "after=$(stty -g)"`;
    const p = spawn("script", ["-q", "-e", "-c", sh, "/dev/null"]);
    const out = new Collector();
    p.stdout.on("data", out.push);
    const code = new Promise<number | null>((r) => p.on("close", r));
    await out.until("ready");
    spawnSync("sh", ["-c", `echo go > "${fifo}"`]);
    await out.until("after=");
    p.stdin.end();
    await code;
    assert.match(out.text, /status=143/);
    assert.equal(
      /after=(\S+)/.exec(out.text)?.[1],
      /before=(\S+)/.exec(out.text)?.[1],
      "the terminal settings are restored",
    );
    // The daemon kills the command of a client that went away (once it has seen the connection close).
    let ps = await vm.exec(["ps", "-o", "args"]);
    for (let i = 0; i < 5 && ps.stdout.includes("sleep 4321"); i++) ps = await vm.exec(["ps", "-o", "args"]);
    assert.doesNotMatch(ps.stdout, /sleep 4321/);
  },
);

test("bad input: -t on a VM that is not running, sizes that are not positive whole numbers", async () => {
  for (const flags of [["-t"], ["-it"]]) {
    const r = corral(["exec", ...flags, "no-such-vm", "--", "true"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "corral: no running VM named 'no-such-vm': 'corral ps' lists the running ones\n");
  }
  await assert.rejects(vm.exec(["true"], { tty: { rows: 0, cols: 80 } }), { code: "BAD_TTY_SIZE" });
  await assert.rejects(vm.exec(["true"], { tty: { rows: 24, cols: 80.5 } }), { code: "BAD_TTY_SIZE" });
  const run = vm.exec(["sh", "-c", "stty size"], { tty: true });
  assert.throws(() => run.resize(-1, 10), { code: "BAD_TTY_SIZE" });
  assert.equal((await run).stdout, "24 80\r\n");
  const plain = vm.exec(["true"]);
  assert.throws(() => plain.resize(30, 100), { code: "EXEC_NOT_TTY" });
  await plain;
  // The VM's control socket refuses a bad size itself.
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath: join(vmDir(NAME), VM_FILES.socket), method: "POST", path: "/exec" }, (r) => {
      let body = "";
      r.on("data", (c: Buffer) => (body += c.toString()));
      r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ argv: ["true"], tty: { rows: -3, cols: 80 } }) + "\n");
  });
  assert.equal(res.status, 400);
  assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, "BAD_TTY_SIZE");
});
