// User-mode networking end to end (issue 19 item 2), with Debian's kernel and busybox in the
// guest and only loopback on the host:
//  1. one guest with host-loopback=on and dns= pointing at this test's own DNS answerer: DHCP,
//     TCP both ways to a host HTTP server reached at the gateway, UDP echo, DNS, a UDP port
//     forward, a flood of UDP flows past the bound, and the host sockets gone after the VM;
//  2. `corral run` with no --net (the default NIC) and -p: the gateway refuses without the flag,
//     TCP port forwards reach a guest httpd and nc;
//  3. a -p whose host port is taken: one line, exit status 2, before any guest boots.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, get, type Server as HttpServer } from "node:http";
import { createConnection, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_CMDLINE, runGuestCommand } from "../../src/api/guest-command.js";
import { buildInitramfs } from "../../src/image/initramfs.js";
import { DEFAULT_MODULES, ensureDefaultImage, type ImagePaths } from "../../src/image/pull.js";
import { VirtioNet } from "../../src/devices/virtio/net.js";
import { MAX_UDP, UserNet } from "../../src/net/user/backend.js";
import { CORRAL, startVm } from "./vm.js";

const SOURCE = fileURLToPath(new URL("../../../tests/net/guest-udp.c", import.meta.url)); // dist/tests/net -> tests/net
const MAC = "52:54:00:12:34:56";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

function buildGuestUdp(dir: string): Uint8Array {
  const out = join(dir, "guest-udp");
  execFileSync("riscv64-unknown-elf-gcc", [
    ...["-nostdlib", "-static", "-ffreestanding", "-fno-builtin", "-O2", "-Wl,-Ttext=0x10000", "-Wl,--no-relax"],
    ...["-o", out, SOURCE],
  ]);
  return new Uint8Array(readFileSync(out));
}

/**
 * The default image with an initramfs built from this tree's /init into `dir`: the cached one is
 * rebuilt by whichever Corral last ran with another /init (every checkout shares the cache).
 */
async function imageWithThisInit(dir: string): Promise<ImagePaths> {
  const img = await ensureDefaultImage();
  const initramfs = join(dir, "initramfs.cpio");
  writeFileSync(
    initramfs,
    buildInitramfs({
      busybox: new Uint8Array(readFileSync(img.busybox)),
      modules: DEFAULT_MODULES,
      modulesDir: img.modulesDir,
    }),
  );
  return { ...img, initramfs };
}

/** A DNS answerer (RFC 1035 §4.1): every A question for `name` gets `ip`; others NXDOMAIN. */
function dnsAnswerer(name: string, ip: string): Promise<{ port: number; close(): void; queries: string[] }> {
  const sock = createSocket("udp4");
  const queries: string[] = [];
  sock.on("message", (q, r) => {
    if (q.length < 12) return;
    const labels: string[] = [];
    let i = 12;
    while (i < q.length && q[i]! > 0) {
      labels.push(q.subarray(i + 1, i + 1 + q[i]!).toString());
      i += 1 + q[i]!;
    }
    const qEnd = i + 5; // the zero label, QTYPE, QCLASS
    const qname = labels.join(".");
    queries.push(qname);
    const qtype = q.readUInt16BE(i + 1);
    const hit = qname === name && qtype === 1;
    const head = Buffer.from(q.subarray(0, qEnd));
    head.writeUInt16BE(0x8180 | (hit || qtype !== 1 ? 0 : 3), 2); // response, RD, RA; rcode 3 = NXDOMAIN
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(hit ? 1 : 0, 6);
    head.writeUInt32BE(0, 8);
    const answer = hit
      ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip.split(".").map(Number)])
      : Buffer.alloc(0);
    sock.send(Buffer.concat([head, answer]), r.port, r.address);
  });
  return new Promise((resolve) =>
    sock.bind(0, "127.0.0.1", () => resolve({ port: sock.address().port, close: () => sock.close(), queries })),
  );
}

function listen(server: HttpServer | ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A free loopback port (listened on and closed again). */
async function freePort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/" }, (res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString()));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

test(
  "user-mode networking: DHCP, TCP, UDP, DNS, a UDP forward and a flood in one guest",
  { timeout: 900_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-usernet-"));
    const big = new Uint8Array(2 << 20).map((_, i) => (i * 7919) & 0xff);
    let posted = { n: 0, sha: "" };
    const http = createHttpServer((req, res) => {
      if (req.method === "POST") {
        const h = createHash("sha256");
        let n = 0;
        req.on("data", (b: Buffer) => {
          n += b.length;
          h.update(b);
        });
        req.on("end", () => {
          posted = { n, sha: h.digest("hex") };
          res.end(`got ${n}\n`);
        });
        return;
      }
      res.end(req.url === "/big" ? big : "hello from the host\n");
    });
    const udpEcho = createSocket("udp4");
    udpEcho.on("message", (m, r) => udpEcho.send(Buffer.concat([Buffer.from("echo: "), m]), r.port, r.address));
    const dns = await dnsAnswerer("test.corral.invalid", "192.0.2.7");
    try {
      const httpPort = await listen(http);
      await new Promise<void>((r) => udpEcho.bind(0, "127.0.0.1", r));
      const udpPort = udpEcho.address().port;
      const fwdUdp = await freePort();
      const net = await UserNet.open(
        {
          hostLoopback: true,
          dns: `127.0.0.1:${dns.port}`,
          forwards: [{ proto: "udp", hostIp: "127.0.0.1", hostPort: fwdUdp, guestPort: 5353 }],
        },
        MAC,
      );
      const script = [
        "ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.\\/]*\\).*/addr \\1/p'",
        "cat /etc/resolv.conf",
        `wget -qO- http://10.0.2.2:${httpPort}/`,
        `wget -qO /tmp/big http://10.0.2.2:${httpPort}/big && echo "big $(sha256sum < /tmp/big)"`,
        // busybox wget posts its file as a C string: text, not random bytes.
        'head -c 349526 /dev/urandom | od -An -tx1 -v | head -c 1048576 > /tmp/up; echo "up $(sha256sum < /tmp/up)"',
        `wget -qO- --post-file=/tmp/up http://10.0.2.2:${httpPort}/`,
        `/corral/files/gu send 10.0.2.2 ${udpPort} ping-udp; echo udp-status=$?`,
        "nslookup test.corral.invalid 10.0.2.3 | sed -n 's/^Address: \\(192[0-9.]*\\)$/dns \\1/p'",
        "echo udp-forward-ready; /corral/files/gu echo 5353; echo echo-status=$?",
        `/corral/files/gu flood 10.0.2.2 20000 ${MAX_UDP + 100}; echo flood-status=$?`,
        `wget -qO- http://10.0.2.2:${httpPort}/ | sed 's/^/after flood: /'`,
      ].join("\n");
      let output = "";
      const run = runGuestCommand(script, {
        image: await imageWithThisInit(dir),
        files: { gu: buildGuestUdp(dir) },
        virtio: [new VirtioNet({ backend: net, mac: MAC, offloads: true })],
        cmdline: `${DEFAULT_CMDLINE} ip=dhcp`,
        onOutput: (t) => (output += t),
      });
      let finished = false;
      void run.finally(() => (finished = true));
      // The UDP forward: a host program's datagram reaches the guest's port 5353 and its answer comes back.
      while (!finished && !output.includes("udp-forward-ready")) await sleep(200);
      const client = createSocket("udp4");
      const reply = new Promise<string>((resolve) => client.on("message", (m) => resolve(m.toString())));
      let answered = "";
      void reply.then((r) => (answered = r));
      while (!finished && answered === "") {
        client.send("hello-guest", fwdUdp, "127.0.0.1");
        await sleep(500);
      }
      client.close();
      const r = await run;
      const counts = net.counts();
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /^addr 10\.0\.2\.15\/24\r?$/m, "DHCP gave the guest 10.0.2.15");
      assert.match(r.output, /^nameserver 10\.0\.2\.3\r?$/m, "and the DNS server");
      assert.match(r.output, /^hello from the host\r?$/m);
      assert.match(r.output, new RegExp(`^big ${sha(big)}`, "m"), "2 MiB host to guest, intact");
      const up = /^up ([0-9a-f]{64})/m.exec(r.output)?.[1];
      assert.match(r.output, /^got 1048576\r?$/m);
      assert.deepEqual(posted, { n: 1048576, sha: up }, "1 MiB guest to host, intact");
      assert.match(r.output, /^echo: ping-udp\r?$/m);
      assert.match(r.output, /udp-status=0/);
      assert.match(r.output, /^dns 192\.0\.2\.7\r?$/m);
      assert.ok(dns.queries.includes("test.corral.invalid"));
      assert.equal(answered, "guest got: hello-guest");
      assert.match(r.output, /echo-status=0/);
      assert.match(r.output, /flood-status=0/);
      assert.match(r.output, /^after flood: hello from the host\r?$/m, "the network still works after the flood");
      assert.ok(counts.udp <= MAX_UDP, `UDP flows stay bounded: ${counts.udp}`);
      assert.ok(net.stats.udpEvicted >= 100, `the oldest flows were closed: ${net.stats.udpEvicted}`);
      assert.deepEqual(counts.tcp, 0, "no TCP connection left once the VM stopped");
      // The forward's host port is free again.
      const again = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        again.once("error", reject);
        again.bind(fwdUdp, "127.0.0.1", resolve);
      });
      again.close();
    } finally {
      http.close();
      udpEcho.close();
      dns.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "corral run: the default NIC, the gateway refused without host-loopback, -p to a guest httpd",
  { timeout: 600_000 },
  async () => {
    const http = createHttpServer((_, res) => res.end("host loopback\n"));
    const hostPort = await listen(http);
    const [web, done] = [await freePort(), await freePort()];
    try {
      const vm = startVm([
        ...["-p", `${web}:80`, "-p", `127.0.0.1:${done}:81/tcp`, "--"],
        ...["sh", "-c"],
        [
          "ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.\\/]*\\).*/addr \\1/p'",
          `wget -T 10 -qO- http://10.0.2.2:${hostPort}/ 2>&1 | sed 's/^/loopback: /'`,
          "mkdir -p /tmp/www && echo 'served by the guest' > /tmp/www/index.html && httpd -p 80 -h /tmp/www",
          "echo forwards-ready",
          "echo bye | nc -l -p 81",
        ].join("\n"),
      ]);
      let out = "";
      vm.child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
      while (!out.includes("forwards-ready") && vm.child.exitCode === null) await sleep(200);
      const body = await httpGet(web);
      // The guest's nc answers the connection on port 81, then the command ends.
      const bye = await new Promise<string>((resolve) => {
        const s = createConnection({ host: "127.0.0.1", port: done });
        let got = "";
        s.on("data", (b: Buffer) => (got += b.toString()));
        s.on("error", () => resolve(got));
        s.on("close", () => resolve(got));
        s.end();
      });
      const fin = await vm.done;
      assert.equal(fin.code, 0, `${fin.stdout}\n${fin.stderr}`);
      assert.match(fin.stdout, /^addr 10\.0\.2\.15\/24\r?$/m, "a NIC with an address, without --net");
      assert.match(
        fin.stdout,
        /^loopback: wget: can't connect to remote host \(10\.0\.2\.2\): Connection refused\r?$/m,
      );
      assert.equal(body, "served by the guest\n");
      assert.equal(bye, "bye\n");
      // Both host ports are free again.
      for (const p of [web, done]) {
        const s = createServer();
        await new Promise<void>((resolve, reject) => {
          s.once("error", reject);
          s.listen(p, "127.0.0.1", resolve);
        });
        await new Promise((r) => s.close(r));
      }
    } finally {
      http.close();
    }
  },
);

test("-p on a host port already taken: one line, exit status 2, no guest", async () => {
  const taken = createServer();
  const port = await listen(taken);
  try {
    const r = spawnSync(process.execPath, [CORRAL, "run", "-p", `${port}:80`, "--", "true"], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      r.stderr,
      `corral: -p 127.0.0.1:${port}:80/tcp: host port ${port} on 127.0.0.1 is already in use: choose another host port\n`,
    );
    assert.equal(r.stdout, "");
  } finally {
    taken.close();
  }
});
