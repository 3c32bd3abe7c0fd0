// virtio-vsock end to end (issue 19, item 4): Debian's kernel with its vsock modules, a guest
// program using AF_VSOCK (tests/vsock/guest-vsock.c, built here with the bare-metal cross
// compiler: it needs no C library), and host programs on Unix sockets in Firecracker's
// convention. The guest first connects to the host (CID 2) port 6000, which lands on the Unix
// socket PATH_6000; then it listens on port 52, and a host program reaches it with "CONNECT 52".
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runGuestCommand } from "../src/api/guest-command.js";
import { Corral } from "../src/api/index.js";
import { VirtioVsock } from "../src/devices/virtio/vsock.js";
import { UnixVsockBackend, hostPortPath } from "../src/net/vsock-unix.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const SOURCE = fileURLToPath(new URL("../../tests/vsock/guest-vsock.c", import.meta.url)); // dist/tests/ -> tests/
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function buildGuestProgram(dir: string): Uint8Array {
  const out = join(dir, "guest-vsock");
  // --no-relax: nothing sets gp in a program without a C library's start-up code.
  execFileSync("riscv64-unknown-elf-gcc", [
    "-nostdlib",
    "-static",
    "-ffreestanding",
    "-fno-builtin",
    "-O2",
    "-Wl,-Ttext=0x10000",
    "-Wl,--no-relax",
    "-o",
    out,
    SOURCE,
  ]);
  return new Uint8Array(readFileSync(out));
}

/** Connect, send "CONNECT port", and collect everything until the socket closes. */
function hostConnect(path: string, port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = createConnection(path);
    let got = "";
    s.on("data", (b: Buffer) => {
      got += b.toString();
      // Once the guest accepted (OK <hostport>), send the line it echoes.
      if (/^OK \d+\n/.test(got) && !s.writableEnded) s.end(line);
    });
    s.on("error", () => {});
    s.on("close", () => resolve(got));
    s.write(`CONNECT ${port}\n`);
  });
}

test("vsock: the guest reaches a host listener on PATH_6000, and a host CONNECT reaches the guest's listener", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-vsock-e2e-"));
  try {
    const prog = buildGuestProgram(dir);
    const path = join(dir, "vm.sock");
    const backend = await UnixVsockBackend.open(path);
    const vsock = new VirtioVsock({ guestCid: 3, backend });
    // The host program the guest connects to: it answers what it read, then closes.
    const fromGuest: string[] = [];
    const listener = createServer((c) => {
      let got = "";
      c.on("data", (b: Buffer) => {
        got += b.toString();
        if (got.includes("hello-host")) {
          fromGuest.push(got);
          c.end(`host got: ${got}\n`);
        }
      });
    });
    await new Promise<void>((r) => listener.listen(hostPortPath(path, 6000), r));
    let output = "";
    const run = runGuestCommand(
      "/corral/files/gv connect 6000 hello-host; echo connect-status=$?; /corral/files/gv listen 52; echo listen-status=$?",
      {
        files: { gv: prog },
        virtio: [vsock],
        onOutput: (t) => (output += t),
      },
    );
    // The guest listens on 52 once its connect is done; until then the guest's kernel refuses (RST).
    let reply = "";
    let finished = false;
    void run.finally(() => (finished = true));
    while (!finished && !output.includes("connect-status=")) await sleep(200);
    while (!finished) {
      reply = await hostConnect(path, 52, "hello-guest\n");
      if (reply.includes("guest got")) break;
      await sleep(200);
    }
    const r = await run;
    listener.close();
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(fromGuest, ["hello-host"]);
    assert.match(r.output, /^host got: hello-host\r?$/m);
    assert.match(r.output, /connect-status=0/);
    assert.match(reply, /^OK (\d+)\nguest got: hello-guest\n$/);
    assert.ok(Number(/^OK (\d+)/.exec(reply)![1]) >= 2 ** 30, "the host side's port");
    assert.match(r.output, /listen-status=0/);
    assert.equal(backend.openSockets, 0, "host sockets closed when the VM stopped");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("vsock on a detached VM (the API's vsock option): CONNECT reaches a guest listener; the socket goes with the VM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-vsock-vm-"));
  const path = join(dir, "vm.sock");
  const vm = await Corral.start({ name: `t-vsock-${process.pid}`, memory: "256M", vsock: `${path},cid=7` });
  try {
    await vm.files.write("/tmp/gv", buildGuestProgram(dir));
    assert.equal((await vm.exec(["chmod", "755", "/tmp/gv"])).exitCode, 0);
    const listening = vm.exec(["/tmp/gv", "listen", "52"]);
    let reply = "";
    let done = false;
    void listening.finally(() => (done = true));
    while (!done) {
      reply = await hostConnect(path, 52, "over the API\n");
      if (reply.includes("guest got")) break;
      await sleep(200);
    }
    assert.equal((await listening).exitCode, 0);
    assert.match(reply, /^OK \d+\nguest got: over the API\n$/);
    // The device accepts only packets from the configured CID: the guest took cid=7 from its config space.
  } finally {
    await vm.remove({ force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(existsSync(path), false);
});

test("corral run --vsock PATH,cid=9: the guest has a virtio socket device and /dev/vsock; PATH is gone after the run", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-vsock-cli-"));
  try {
    const path = join(dir, "vm.sock");
    // /sys/bus/virtio/devices/*/device is the virtio device id (19 = 0x0013, socket); /dev/vsock
    // exists once the vsock modules from the initramfs are loaded.
    const cmd = "cat /sys/bus/virtio/devices/*/device; ls /dev/vsock";
    const r = spawnSync(process.execPath, [CORRAL, "run", "--vsock", `${path},cid=9`, "--", "sh", "-c", cmd], {
      encoding: "utf8",
      timeout: 600_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^0x0013$/m);
    assert.match(r.stdout, /^\/dev\/vsock$/m);
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
