// End to end (issue 3): a VM on a TAP device reaches a server in a network namespace the test
// created, through a veth pair. Corral itself runs in a second namespace of the test's, so
// nothing touches the host's own network: VM netns (TAP + veth end, routing) <-> server netns.
// Also: the TAP device disappears when its VM is killed with SIGKILL, and without root the TAP
// cannot be made and corral says so.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { startVm, until, CORRAL } from "./vm.js";

const id = process.pid % 10000;
const VM_NS = `corral-vm-${id}`;
const SRV_NS = `corral-srv-${id}`;
const TAP = `ctap${id}`;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}
function inNs(ns: string, ...args: string[]): string {
  return ip("netns", "exec", ns, ...args);
}
function linkExists(ns: string, name: string): boolean {
  return spawnSync("ip", ["netns", "exec", ns, "ip", "link", "show", name]).status === 0;
}

function setupNamespaces(): void {
  ip("netns", "add", VM_NS);
  ip("netns", "add", SRV_NS);
  // veth: 10.77.2.1 (VM netns) <-> 10.77.2.2 (server netns); the TAP side is 10.77.1.1/24.
  ip("link", "add", "cveth-a", "netns", VM_NS, "type", "veth", "peer", "name", "cveth-b", "netns", SRV_NS);
  inNs(VM_NS, "ip", "addr", "add", "10.77.2.1/24", "dev", "cveth-a");
  inNs(VM_NS, "ip", "link", "set", "cveth-a", "up");
  inNs(VM_NS, "ip", "link", "set", "lo", "up");
  inNs(VM_NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
  inNs(SRV_NS, "ip", "addr", "add", "10.77.2.2/24", "dev", "cveth-b");
  inNs(SRV_NS, "ip", "link", "set", "cveth-b", "up");
  inNs(SRV_NS, "ip", "link", "set", "lo", "up");
  inNs(SRV_NS, "ip", "route", "add", "10.77.1.0/24", "via", "10.77.2.1");
}

function teardown(): void {
  spawnSync("ip", ["netns", "del", VM_NS]);
  spawnSync("ip", ["netns", "del", SRV_NS]);
}

test("a VM on TAP reaches a server in a test namespace; the TAP goes with the VM", { timeout: 600_000 }, async () => {
  teardown();
  setupNamespaces();
  try {
    // The server: busybox httpd in the server namespace, serving one file.
    const secret = `corral-tap-${process.pid}-${Date.now()}`;
    const www = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    execFileSync("sh", ["-c", `printf '%s' '${secret}' > ${www}/hello.txt`]);
    const httpd = startDaemon([
      "ip",
      "netns",
      "exec",
      SRV_NS,
      "busybox",
      "httpd",
      "-f",
      "-p",
      "10.77.2.2:8080",
      "-h",
      www,
    ]);
    const vm = startVm(
      [
        "--net",
        `tap:${TAP}`,
        "--append",
        "console=ttyS0 quiet ip=10.77.1.2::10.77.1.1:255.255.255.0::eth0:off",
        "--",
        "sh",
        "-c",
        "ping -c 2 10.77.2.2 | grep 'packets received'; wget -q -O - http://10.77.2.2:8080/hello.txt; echo",
      ],
      ["ip", "netns", "exec", VM_NS],
    );
    // The TAP exists as soon as corral has started; give it the router address.
    await until(() => linkExists(VM_NS, TAP), "the TAP device");
    inNs(VM_NS, "ip", "addr", "add", "10.77.1.1/24", "dev", TAP);
    inNs(VM_NS, "ip", "link", "set", TAP, "up");
    const r = await vm.done;
    httpd.kill();
    rmSync(www, { recursive: true, force: true });
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /2 packets transmitted, 2 packets received/);
    assert.ok(r.stdout.includes(secret), `the guest fetched the server's file: ${r.stdout}`);
    assert.equal(linkExists(VM_NS, TAP), false, "the TAP device is removed when the VM stops");

    // SIGKILL: the kernel removes a non-persistent TAP when its last fd closes.
    const killed = startVm(["--net", `tap:${TAP}`, "--", "sleep", "600"], ["ip", "netns", "exec", VM_NS]);
    await until(() => linkExists(VM_NS, TAP), "the TAP device of the second VM");
    killed.child.kill("SIGKILL");
    await killed.done;
    await until(() => !linkExists(VM_NS, TAP), "the TAP device to disappear after SIGKILL", 10_000);
  } finally {
    teardown();
  }
});

test("without root the TAP cannot be made: a clear TAP_PERMISSION error", () => {
  // nobody may read the repository but not /root's image cache: --firmware with any readable
  // file gets corral past the image to the NIC (NICs open before anything boots).
  const r = spawnSync(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      process.execPath,
      CORRAL,
      "run",
      "--firmware",
      "/etc/hostname",
      "--net",
      "tap:cnoroot0",
    ],
    {
      encoding: "utf8",
      env: { ...process.env, CORRAL_HOME: "/tmp" },
    },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /TAP networking needs root/);
});

function startDaemon(argv: string[]): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
}
