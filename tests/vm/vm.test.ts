// Running VMs end to end with the Debian guest (issue 3 item 6, and the balloon of item 5): two
// VMs boot once, in parallel (one through `corral run -d`, one through the TypeScript API), and
// every check runs against them. The CLI VM ends with a wedged agent and a forced stop, the API
// VM with a crash (SIGKILL of its process), so both clean-up paths are exercised.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral, DEFAULT_MAX_OUTPUT, ExecOutputLimitError, type Vm } from "../../src/api/index.js";
import { GUEST_AGENT_PID } from "../../src/image/agent.js";
import { VM_FILES, vmDir } from "../../src/vm/state.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const A = `t-cli-${process.pid}`;
const B = `t-api-${process.pid}`;
let apiVm: Vm;

function corral(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], {
    encoding: "utf8",
    timeout: 400_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function corralAsync(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CORRAL, ...args], { env });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

function meminfo(name: string): { total: number; available: number } {
  const r = corral(["exec", name, "--", "cat", "/proc/meminfo"]);
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(r.stdout)?.[1] ?? NaN);
  return { total: kb("MemTotal"), available: kb("MemAvailable") };
}

function daemonPid(name: string): number {
  return (JSON.parse(readFileSync(join(vmDir(name), VM_FILES.record), "utf8")) as { pid: number }).pid;
}

/** The process has ended (gone, or a zombie waiting for its parent). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;
}

/** The CLI VM's caller has an extra CA bundle set, as the machines this runs on do (vmProcessEnv). */
const CA_BUNDLE = process.env["NODE_EXTRA_CA_CERTS"] ?? "/etc/ssl/certs/ca-certificates.crt";

before(async () => {
  const cli = corralAsync(["run", "-d", "--name", A, "--memory", "512M"], {
    ...process.env,
    NODE_EXTRA_CA_CERTS: CA_BUNDLE,
  });
  apiVm = await Corral.start({ name: B, memory: "256M" });
  const r = await cli;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), A);
});

after(() => {
  for (const n of [A, B]) {
    if (existsSync(join(vmDir(n), VM_FILES.record))) corral(["stop", "-t", "1", n]);
    // Only the console log is left by a stopped VM; the test's logs go too.
    rmSync(vmDir(n), { recursive: true, force: true });
  }
});

test("ps lists both VMs as running with their sizes", () => {
  const r = corral(["ps"]);
  assert.equal(r.status, 0);
  const row = r.stdout.split("\n").find((l) => l.startsWith(A + " "));
  assert.ok(row, r.stdout);
  assert.match(row, new RegExp(`^${A}\\s+${daemonPid(A)}\\s+1\\s+512M\\s+running\\s+\\d+[smh]$`));
  assert.ok(Corral.list().some((v) => v.name === B && v.memory === 256 * 2 ** 20));
});

test("the VM process starts without the caller's NODE_EXTRA_CA_CERTS, with its CORRAL_HOME", () => {
  const env = readFileSync(`/proc/${daemonPid(A)}/environ`, "utf8").split("\0");
  assert.ok(!env.some((e) => e.startsWith("NODE_EXTRA_CA_CERTS=")), "the bundle is not read again");
  assert.ok(env.some((e) => e.startsWith("CORRAL_HOME=")));
  assert.ok(
    env.some((e) => e.startsWith("PATH=")),
    "the rest of the environment is kept",
  );
});

test("exec: stdout and stderr apart, the exit status, argv without shell parsing", () => {
  const r = corral(["exec", A, "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
  assert.equal(r.status, 7);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  const u = corral(["exec", A, "--", "uname", "-m"]);
  assert.equal(u.stdout, "riscv64\n");
  const q = corral(["exec", A, "--", "printf", "%s|", "a b", "$HOME", "it's"]);
  assert.equal(q.stdout, "a b|$HOME|it's|");
  const missing = corral(["exec", A, "--", "/no/such/program"]);
  assert.equal(missing.status, 127);
});

test("virtio-rng: the guest reads host entropy from /dev/hwrng", () => {
  // Random bytes do not compress: gzip of 4096 of them is larger than the input.
  const r = corral([
    "exec",
    A,
    "--",
    "sh",
    "-c",
    "cat /sys/class/misc/hw_random/rng_current; head -c 4096 /dev/hwrng | gzip -c | wc -c",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const [current, gzipped] = r.stdout.trim().split("\n");
  assert.match(current!, /^virtio_rng/);
  assert.ok(Number(gzipped) > 4096, `4096 bytes of /dev/hwrng compressed to ${gzipped}`);
});

test("exec: stdin is forwarded with -i", () => {
  const r = corral(["exec", "-i", A, "--", "sh", "-c", "tr a-z A-Z; echo done"], "hello\nworld\n");
  assert.equal(r.status, 0);
  assert.equal(r.stdout, "HELLO\nWORLD\ndone\n");
});

test("exec: several at once, each with its own output", async () => {
  // The first command waits for a file that only a later exec creates: serialized execs would
  // never finish.
  const waiting = corralAsync([
    "exec",
    A,
    "--",
    "sh",
    "-c",
    "while [ ! -e /tmp/go ]; do sleep 0.2; done; echo released",
  ]);
  const fast = await Promise.all(
    [1, 2, 3].map((i) => corralAsync(["exec", A, "--", "sh", "-c", `echo fast-${i}; echo e-${i} >&2; exit ${i}`])),
  );
  fast.forEach((r, i) => {
    assert.equal(r.stdout, `fast-${i + 1}\n`);
    assert.equal(r.stderr, `e-${i + 1}\n`);
    assert.equal(r.status, i + 1);
  });
  assert.equal(corral(["exec", A, "--", "touch", "/tmp/go"]).status, 0);
  const w = await waiting;
  assert.equal(w.status, 0);
  assert.equal(w.stdout, "released\n");
});

test("many short processes, in turn and at once, each see their own memory (ASIDs: tlb.ts banks)", async () => {
  // In turn: 100 processes, each a new address space (more than the TLB keeps banks for).
  const seq = await apiVm.exec(["sh", "-c", "for i in $(seq 1 100); do expr $i \\* 3; done"]);
  assert.equal(seq.exitCode, 0, seq.stderr);
  assert.equal(seq.stdout, Array.from({ length: 100 }, (_, i) => `${3 * (i + 1)}\n`).join(""));
  // At once: 24 forked shells with the same virtual addresses and different values, preempted
  // by one another, each also starting md5sum and cut.
  const par = await apiVm.exec([
    "sh",
    "-c",
    'for n in $(seq 1 24); do (s=0; j=0; while [ $j -lt 40 ]; do s=$((s + n * j)); j=$((j + 1)); done; echo "$n $s $(echo $n | md5sum | cut -c1-8)") & done; wait',
  ]);
  assert.equal(par.exitCode, 0, par.stderr);
  const want = Array.from({ length: 24 }, (_, i) => {
    const n = i + 1;
    return `${n} ${n * 780} ${createHash("md5").update(`${n}\n`).digest("hex").slice(0, 8)}`;
  });
  assert.deepEqual(par.stdout.trim().split("\n").sort(), want.sort());
});

test("exec: a timeout kills the guest process group, not the VM", () => {
  // The guest's stderr ends mid-line: Corral's own line still starts a line of its own.
  const r = corral([
    "exec",
    "--timeout",
    "2",
    A,
    "--",
    "sh",
    "-c",
    "printf partial >&2; sleep 300 & sleep 301; echo never",
  ]);
  assert.equal(r.status, 137);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /^partial\ncorral: the command timed out after 2 s( and was killed|; the guest did not confirm)/,
  );
  const ps = corral(["exec", A, "--", "ps", "-o", "args"]);
  assert.equal(ps.status, 0);
  assert.doesNotMatch(ps.stdout, /sleep 30[01]/);
});

test("API: exec with env, cwd, streaming callbacks; files write and read back", async () => {
  const chunks: string[] = [];
  const r = await apiVm.exec(["sh", "-c", 'echo "$GREETING from $(pwd)"; uname -a; echo warn >&2'], {
    env: { GREETING: "hi there" },
    cwd: "/tmp",
    onStdout: (b) => chunks.push(b.toString()),
  });
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /^hi there from \/tmp\nLinux corral .* riscv64/);
  assert.equal(r.stderr, "warn\n");
  assert.equal(chunks.join(""), r.stdout);
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
  await apiVm.files.write("/tmp/blob", data);
  assert.deepEqual(await apiVm.files.read("/tmp/blob"), data);
  const sum = await apiVm.exec(["sh", "-c", "wc -c < /tmp/blob"]);
  assert.equal(sum.stdout.trim(), "5000");
  const t = await apiVm.exec(["sleep", "100"], { timeoutMs: 1500 });
  assert.equal(t.timedOut, true);
  assert.equal(t.exitCode, 137);
  // A kill that reaches the agent before the command has even started (a timeout of a few ms)
  // still ends the exec: it used to leave the agent's runner waiting on the output FIFOs forever.
  for (const ms of [1, 2, 5, 20]) {
    const hung = new Promise<"hung">((r) => setTimeout(() => r("hung"), 60_000).unref());
    const k = await Promise.race([apiVm.exec(["sleep", "100"], { timeoutMs: ms }), hung]);
    assert.notEqual(k, "hung", `an exec killed after ${ms} ms never ended`);
    if (k !== "hung") assert.deepEqual([k.timedOut, k.exitCode], [true, 137]);
  }
  await assert.rejects(apiVm.files.read("/no/such"), { code: "GUEST_FILE_READ" });
});

test("API: exec output is bounded; past maxOutputBytes the command is killed and the exec rejects with what was kept", async () => {
  const limited = async (run: Promise<unknown>): Promise<ExecOutputLimitError> => {
    const e = await run.then(
      () => assert.fail("the exec must reject"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof ExecOutputLimitError, String(e));
    assert.equal(e.code, "EXEC_OUTPUT_LIMIT");
    return e;
  };
  // 40 MiB of "y\n" against the default 16 MiB: exactly the limit is kept, all of it the command's.
  const big = await limited(apiVm.exec(["sh", "-c", "yes | head -c 41943040"]));
  assert.deepEqual(
    [big.stream, big.limit, big.partial.stdout.length],
    ["stdout", DEFAULT_MAX_OUTPUT, DEFAULT_MAX_OUTPUT],
  );
  assert.ok(big.partial.stdout.equals(Buffer.alloc(DEFAULT_MAX_OUTPUT, "y\n")));
  // A guest writing for ever, on stderr, with a limit given as a size: killed, not left running.
  const seen: Buffer[] = [];
  const endless = await limited(
    apiVm.exec(["sh", "-c", "echo started; exec yes >&2"], { maxOutputBytes: "1M", onStderr: (b) => seen.push(b) }),
  );
  assert.deepEqual([endless.stream, endless.limit], ["stderr", 2 ** 20]);
  assert.equal(endless.partial.stdout.toString(), "started\n");
  assert.equal(Buffer.concat(seen).length, 2 ** 20, "the callback gets what is kept, nothing past it");
  let left = "";
  for (let i = 0; i < 300; i++) {
    left = (await apiVm.exec(["sh", "-c", "pidof yes || true"])).stdout.trim();
    if (left === "") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(left, "", "the command that passed the limit was killed");
  // Exactly the limit is not past it.
  const exact = await apiVm.exec(["head", "-c", "65536", "/dev/zero"], { maxOutputBytes: 65536 });
  assert.deepEqual([exact.exitCode, exact.stdoutBytes.length], [0, 65536]);
  await assert.rejects(apiVm.files.read("/dev/zero", { maxBytes: 4096 }), { code: "EXEC_OUTPUT_LIMIT" });
  await assert.rejects(apiVm.exec(["true"], { maxOutputBytes: -1 }), { code: "BAD_OPTION" });
  assert.equal((await apiVm.exec(["true"])).exitCode, 0, "the VM goes on");
});

test("API: remove() refuses a running VM, as corral rm does", async () => {
  await assert.rejects(apiVm.remove(), { code: "VM_RUNNING" });
  assert.equal(
    Corral.list().some((v) => v.name === B),
    true,
  );
});

test("console: attach, type a command, Ctrl-A X detaches and the VM keeps running", async () => {
  const p = spawn(process.execPath, [CORRAL, "console", A]);
  let out = "";
  p.stdout.on("data", (b: Buffer) => (out += b.toString()));
  // The console replays its recent output on attach: look for a sum that has not been printed before.
  const n = 1000 + Math.floor(Math.random() * 1e6);
  p.stdin.write(`echo con-$((${n}+1))\n`);
  for (let i = 0; i < 600 && !out.includes(`con-${n + 1}`); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, new RegExp(`con-${n + 1}`));
  p.stdin.write("\x01x");
  const code = await new Promise<number | null>((r) => p.on("close", r));
  assert.equal(code, 0);
  assert.match(corral(["ps"]).stdout, new RegExp(`^${A}\\s.*running`, "m"));
});

test("balloon: inflate and deflate change MemTotal/MemAvailable; freed guest memory leaves the host", async () => {
  const pid = daemonPid(A);
  // Fill 200 MiB of guest memory (a file on the tmpfs root): resident on the host.
  assert.equal(corral(["exec", A, "--", "dd", "if=/dev/zero", "of=/tmp/fill", "bs=1M", "count=200"]).status, 0);
  const before = meminfo(A);
  const rssFull = rssOf(pid);
  // Free it in the guest and shrink the guest to 192M: free page reporting and the balloon's
  // inflated pages both reach the host as madvise(MADV_DONTNEED).
  assert.equal(corral(["exec", A, "--", "rm", "/tmp/fill"]).status, 0);
  const set = corral(["vm", "memory", A, "192M"]);
  assert.equal(set.status, 0, set.stderr);
  // The driver inflates in steps; wait until it holds the whole 320M.
  for (let i = 0; i < 120 && (await Corral.get(A).memory()).balloonPages * 4096 < 320 * 2 ** 20; i++)
    await new Promise((r) => setTimeout(r, 1000));
  const inflated = meminfo(A);
  const rssAfter = rssOf(pid);
  process.stderr.write(
    `# balloon 512M -> 192M: MemTotal ${before.total} -> ${inflated.total} kB, MemAvailable ${before.available} -> ${inflated.available} kB, host RSS ${rssFull >> 20} -> ${rssAfter >> 20} MiB\n`,
  );
  assert.ok(inflated.total <= before.total - 250 * 1024, "MemTotal fell by the ballooned amount");
  assert.ok(inflated.available < before.available, "MemAvailable no longer counts the ballooned pages");
  assert.ok(rssAfter < rssFull - 150 * 2 ** 20, `host RSS fell: ${rssFull} -> ${rssAfter}`);
  const info = await Corral.get(A).memory();
  assert.ok(info.releasedBytes > 150 * 2 ** 20);
  assert.equal(info.balloonPages * 4096, 512 * 2 ** 20 - 192 * 2 ** 20);

  await Corral.get(A).setMemory("512M");
  let deflated = inflated;
  for (let i = 0; i < 60 && deflated.total < before.total; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    deflated = meminfo(A);
  }
  assert.equal(deflated.total, before.total, "MemTotal is back after deflating");
  assert.ok(deflated.available > inflated.available);
});

test("bad input: a duplicate name, a bad size, a VM that does not exist", () => {
  const dup = corral(["run", "-d", "--name", A]);
  assert.notEqual(dup.status, 0);
  assert.match(dup.stderr, /^corral: a VM named '.*' is already running/);
  const big = corral(["vm", "memory", A, "4G"]);
  assert.notEqual(big.status, 0);
  assert.match(big.stderr, /^corral: 4096M is more than VM '.*' has: give from \d+M .* to 512M/);
  const none = corral(["exec", "no-such-vm", "--", "true"]);
  assert.equal(none.status, 1);
  assert.equal(none.stderr, "corral: no running VM named 'no-such-vm': 'corral ps' lists the running ones\n");
});

test("an agent that does not answer: a clear timeout, then a forced stop leaves nothing behind", () => {
  // The agent is one process that reports every exec's end, this one's too: stopped by its own
  // command, it never reports it. The --timeout then ends the exec, and the kill the agent does
  // not confirm shows it stopped.
  const stopAgent = corral(["exec", "--timeout", "3", A, "--", "sh", "-c", `kill -STOP $(cat ${GUEST_AGENT_PID})`]);
  assert.equal(stopAgent.status, 137, stopAgent.stderr);
  assert.match(stopAgent.stderr, /the guest did not confirm killing it/);
  const r = corral(["exec", A, "--", "true"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^corral: the guest agent of VM '.*' did not answer within \d+ s/);
  const pid = daemonPid(A);
  const s = corral(["stop", "-t", "2", A]);
  assert.equal(s.status, 0, s.stderr);
  assert.doesNotMatch(corral(["ps"]).stdout, new RegExp(`^${A}\\s`, "m"));
  assert.ok(ended(pid), "the VM process is gone");
  assert.equal(existsSync(join(vmDir(A), VM_FILES.socket)), false);
  assert.equal(existsSync(join(vmDir(A), VM_FILES.record)), false);
  const again = corral(["exec", A, "--", "true"]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /no running VM named/);
});

test("a crashed VM process: its stale state is detected and removed", async () => {
  const pid = daemonPid(B);
  process.kill(pid, "SIGKILL");
  while (existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).length > 0)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(join(vmDir(B), VM_FILES.record)), true, "SIGKILL leaves the record behind");
  await assert.rejects(apiVm.exec(["true"]), { code: "VM_NOT_RUNNING" });
  assert.equal(
    Corral.list().some((v) => v.name === B),
    false,
  );
  assert.equal(existsSync(join(vmDir(B), VM_FILES.record)), false);
  assert.equal(existsSync(join(vmDir(B), VM_FILES.socket)), false);
  // What is left (its console log, how it ended) goes with remove(), as with `corral rm`.
  assert.ok(Corral.list().every((v) => v.name !== B));
  assert.equal(existsSync(vmDir(B)), true);
  await apiVm.remove();
  assert.equal(existsSync(vmDir(B)), false);
  await assert.rejects(apiVm.remove(), { code: "VM_NOT_FOUND" });
});
