import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isCorralError } from "../errors.js";
import { VsockOp } from "../devices/virtio/vsock.js";
import { scratchDir } from "../devices/virtio/testing/scratch-fs.js";
import { vsockHdr, vsockRig, type VsockRig } from "../devices/virtio/testing/vsock-driver.js";
import { UnixVsockBackend, hostPortPath, parseConnectLine } from "./vsock-unix.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `f` (the mock guest is synchronous; the host sockets are not) until it returns a value. */
async function until<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Packets for the guest, collected across polls. */
function inbox(r: VsockRig) {
  const got: ReturnType<VsockRig["recv"]> = [];
  return (op: number): Promise<ReturnType<VsockRig["recv"]>[number]> =>
    until(() => {
      got.push(...r.recv());
      const i = got.findIndex((p) => p.h.op === op);
      return i < 0 ? undefined : got.splice(i, 1)[0];
    }, `op ${op}`);
}

function readAll(s: Socket): { text: () => string } {
  let t = "";
  s.on("data", (b: Buffer) => (t += b.toString()));
  return { text: () => t };
}

/** A mock guest whose vsock device listens on a fresh socket PATH, with 16 receive buffers posted. */
async function guestOnSocket(t: TestContext) {
  const dir = scratchDir(t, "vsock");
  const path = join(dir, "v.sock");
  const backend = await UnixVsockBackend.open(path);
  const r = vsockRig(backend);
  r.post(16);
  return { path, backend, r, next: inbox(r) };
}

test("CONNECT lines: a decimal u32 port and nothing else", () => {
  assert.equal(parseConnectLine("CONNECT 52"), 52);
  assert.equal(parseConnectLine("CONNECT 4294967295"), 0xffffffff);
  for (const bad of [
    "CONNECT 4294967296",
    "CONNECT -1",
    "CONNECT 0x10",
    "CONNECT ../x",
    "connect 5",
    "CONNECT 5 ",
    "CONNECT",
  ])
    assert.equal(parseConnectLine(bad), undefined, bad);
  assert.equal(hostPortPath("/run/v.sock", 2 ** 32 + 7), "/run/v.sock_7");
});

test("a host program's CONNECT reaches the guest's listener: OK <hostport>, then bytes both ways", async (t) => {
  const { path, r, next } = await guestOnSocket(t);
  const s = createConnection(path);
  const got = readAll(s);
  s.write("CONNECT 52\nhello");
  const req = await next(VsockOp.REQUEST);
  assert.equal(req.h.dstPort, 52);
  r.send(vsockHdr({ op: VsockOp.RESPONSE, srcPort: 52, dstPort: req.h.srcPort }));
  await until(() => (got.text() === `OK ${req.h.srcPort}\n` ? true : undefined), "OK line");
  const rw = await next(VsockOp.RW);
  assert.equal(Buffer.from(rw.payload).toString(), "hello");
  r.send(vsockHdr({ op: VsockOp.RW, srcPort: 52, dstPort: req.h.srcPort }), new TextEncoder().encode("from guest"));
  await until(() => (got.text().endsWith("from guest") ? true : undefined), "guest bytes");
  // The host program leaves: the guest is told SHUTDOWN.
  s.destroy();
  await next(VsockOp.SHUTDOWN);
  r.dev.close();
  assert.equal(existsSync(path), false, "the VM's socket is removed when it stops");
});

test("a host program's CONNECT to a port the guest refuses, or a malformed line, is closed", async (t) => {
  const { path, r, next } = await guestOnSocket(t);
  const closed = (s: Socket): Promise<void> => new Promise((res) => s.on("close", () => res()));
  const a = createConnection(path);
  a.on("error", () => {});
  a.write("CONNECT 53\n");
  const req = await next(VsockOp.REQUEST);
  r.send(vsockHdr({ op: VsockOp.RST, srcPort: 53, dstPort: req.h.srcPort }));
  await closed(a);
  for (const line of ["CONNECT ../../etc\n", "GET / HTTP/1.1\r\n", "CONNECT 1" + "1".repeat(40)]) {
    const b = createConnection(path);
    b.on("error", () => {});
    b.write(line);
    await closed(b);
  }
  assert.equal(r.dev.connections, 0);
  r.dev.close();
});

test("a guest connection to CID 2 port P reaches the host listener on PATH_P; none there is RST", async (t) => {
  const { path, backend, r, next } = await guestOnSocket(t);
  const accepted: Socket[] = [];
  const server: Server = createServer((c) => accepted.push(c));
  await new Promise<void>((res) => server.listen(hostPortPath(path, 5000), res));
  try {
    r.send(vsockHdr({ op: VsockOp.REQUEST }));
    await next(VsockOp.RESPONSE);
    const c = await until(() => accepted[0], "host accept");
    const got = readAll(c);
    r.send(vsockHdr({ op: VsockOp.RW }), new TextEncoder().encode("ping"));
    await until(() => (got.text() === "ping" ? true : undefined), "ping");
    c.write("pong");
    assert.equal(Buffer.from((await next(VsockOp.RW)).payload).toString(), "pong");
    r.send(vsockHdr({ op: VsockOp.REQUEST, srcPort: 77, dstPort: 5001 }));
    assert.equal((await next(VsockOp.RST)).h.dstPort, 77);
    // The VM stops: its host sockets close.
    r.dev.close();
    await until(() => (c.destroyed || c.readableEnded ? true : undefined), "host socket closed");
    assert.equal(backend.openSockets, 0);
  } finally {
    server.close();
  }
});

test("the socket path: a file that is not a socket is refused, a stale socket is replaced", async (t) => {
  const dir = scratchDir(t, "vsock");
  writeFileSync(join(dir, "file"), "mine");
  await assert.rejects(
    UnixVsockBackend.open(join(dir, "file")),
    (e) => isCorralError(e) && e.code === "VSOCK_PATH_EXISTS",
  );
  const live = await UnixVsockBackend.open(join(dir, "v.sock"));
  await assert.rejects(
    UnixVsockBackend.open(join(dir, "v.sock")),
    (e) => isCorralError(e) && e.code === "VSOCK_PATH_IN_USE",
  );
  live.close();
  // A socket file nobody listens on (a VM that was killed) is taken over.
  const script = `require("node:net").createServer().listen(${JSON.stringify(join(dir, "s.sock"))}, () => process.exit(0))`;
  execFileSync(process.execPath, ["-e", script]);
  assert.equal(existsSync(join(dir, "s.sock")), true);
  const b = await UnixVsockBackend.open(join(dir, "s.sock"));
  b.close();
  await assert.rejects(
    UnixVsockBackend.open(join(dir, "x".repeat(120))),
    (e) => isCorralError(e) && e.code === "VSOCK_PATH_TOO_LONG",
  );
});
