// Fork of a VM on a TAP device (issue 16 item 4, src/snapshot/clone-net.ts; needs root). Corral
// runs in a network namespace the test creates, so every TAP is made there, never in the host's
// own network. The parent's TAP has a fixed name; each clone gets a TAP of its own, numbered by
// the kernel from that name, and a MAC of its own, which its guest took. Each clone's TAP is then
// moved into a namespace of its own and the clone answers ping there: the neighbour entry the
// host side learns is that clone's new MAC. When the clones stop, their TAPs go.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { scratchHome } from "../vm/scratch-home.js";
import { vmDir, VM_FILES } from "../../src/vm/state.js";
import { CORRAL, until } from "./vm.js";

const id = process.pid % 10000;
const VM_NS = `corral-fvm-${id}`;
const TAP = `ftap${id}`;
const NAME = `t-forktap-${id}`;
const h = scratchHome();
const nsList: string[] = [VM_NS];

function inNs(ns: string, ...args: string[]): string {
  return execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
}
/** `corral ARGS` inside the VM namespace, in the scratch home. */
function corral(...args: string[]): string {
  const r = spawnSync("ip", ["netns", "exec", VM_NS, process.execPath, CORRAL, ...args], {
    encoding: "utf8",
    env: h.env,
    timeout: 600_000,
  });
  assert.equal(r.status, 0, `corral ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}
function links(ns: string): string {
  return inNs(ns, "ip", "-o", "link", "show");
}

after(() => {
  for (const n of [NAME, ...clones]) spawnSync(process.execPath, [CORRAL, "stop", n], { env: h.env });
  for (const ns of nsList) spawnSync("ip", ["netns", "del", ns]);
  rmSync(h.home, { recursive: true, force: true });
});
const clones: string[] = [];

test(
  "fork on a TAP: each clone has its own TAP device and MAC, and answers on its own TAP",
  { timeout: 900_000 },
  async () => {
    spawnSync("ip", ["netns", "del", VM_NS]);
    execFileSync("ip", ["netns", "add", VM_NS]);
    inNs(VM_NS, "ip", "link", "set", "lo", "up");
    corral(
      "run",
      "-d",
      "--name",
      NAME,
      "--memory",
      "256M",
      "--net",
      `tap:${TAP}`,
      "--append",
      "console=ttyS0 quiet ip=10.78.1.2::10.78.1.1:255.255.255.0::eth0:off",
    );
    const parentMac = corral("exec", NAME, "--", "cat", "/sys/class/net/eth0/address");
    clones.push(...corral("fork", NAME, "--count", "2").split("\n"));
    assert.equal(clones.length, 2);

    const seen = new Set([parentMac]);
    const taps = new Set([TAP]);
    for (const [i, c] of clones.entries()) {
      const mac = corral("exec", c, "--", "cat", "/sys/class/net/eth0/address");
      assert.ok(!seen.has(mac), `${c} has a MAC of its own (${mac})`);
      seen.add(mac);
      // Its VM process says which TAP it made.
      const log = readFileSync(join(vmDir(c, h.home), VM_FILES.log), "utf8");
      const tap = new RegExp(`eth0 takes the MAC ${mac} \\(was ${parentMac}\\) on TAP (\\S+)`).exec(log)?.[1];
      assert.ok(tap !== undefined && tap.startsWith("ftap"), log.slice(-500));
      assert.ok(!taps.has(tap), `${c} has a TAP of its own (${tap})`);
      taps.add(tap);
      assert.match(links(VM_NS), new RegExp(`: ${tap}: `));

      // Its own namespace, the host side of its link: ping it there, and learn its MAC.
      const ns = `corral-fc${i}-${id}`;
      spawnSync("ip", ["netns", "del", ns]);
      execFileSync("ip", ["netns", "add", ns]);
      nsList.push(ns);
      inNs(VM_NS, "ip", "link", "set", tap, "netns", ns);
      inNs(ns, "ip", "addr", "add", "10.78.1.1/24", "dev", tap);
      inNs(ns, "ip", "link", "set", tap, "up");
      assert.match(inNs(ns, "busybox", "ping", "-c", "2", "-W", "10", "10.78.1.2"), /2 packets received/);
      assert.match(inNs(ns, "ip", "neigh", "show", "10.78.1.2", "dev", tap), new RegExp(`lladdr ${mac}`));
    }
    // The parent answers on its own TAP, from its own MAC.
    inNs(VM_NS, "ip", "addr", "add", "10.78.1.1/24", "dev", TAP);
    inNs(VM_NS, "ip", "link", "set", TAP, "up");
    assert.match(inNs(VM_NS, "busybox", "ping", "-c", "2", "-W", "10", "10.78.1.2"), /2 packets received/);
    assert.match(inNs(VM_NS, "ip", "neigh", "show", "10.78.1.2", "dev", TAP), new RegExp(`lladdr ${parentMac}`));

    // Stopped, each clone's TAP goes with it.
    for (const [i, c] of clones.entries()) {
      corral("stop", c);
      await until(() => !/ftap/.test(links(`corral-fc${i}-${id}`)), `the TAP of ${c} to go`, 30_000);
    }
  },
);
