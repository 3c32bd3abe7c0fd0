// End to end (issue 3): two Debian guests on one Corral switch get addresses from Corral's DHCP
// at boot, ping each other and move a file with busybox nc (sha256 compared); the switch leaves
// no socket behind after its VMs stop, or after one is killed with SIGKILL.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { switchDir } from "../../src/net/attach.js";
import { field, receiverScript, senderScript } from "../../src/net/testing/nc-transfer.js";
import { startVm, until } from "./vm.js";

const plan = { addresses: ["10.0.2.15", "10.0.2.16"] as [string, string], kib: 1024 };

test("two VMs on a switch: DHCP, ping, a 1 MiB file over nc", { timeout: 900_000 }, async () => {
  const sw = `e2e-${process.pid}`;
  const dir = switchDir(sw);
  const receiver = startVm(["--net", `switch:${sw}`, "--", "sh", "-c", receiverScript(plan)]);
  const sender = startVm(["--net", `switch:${sw}`, "--", "sh", "-c", senderScript(plan)]);
  const [r, s] = await Promise.all([receiver.done, sender.done]);
  assert.equal(s.code, 0, `sender: ${s.stdout}\n${s.stderr}`);
  assert.equal(r.code, 0, `receiver: ${r.stdout}\n${r.stderr}`);
  // Each guest got a distinct address of the pool at boot, and found the other.
  const rMe = /^me (\S+) peer (\S+)$/m.exec(r.stdout);
  const sMe = /^me (\S+) peer (\S+)$/m.exec(s.stdout);
  assert.ok(rMe && sMe, `${r.stdout}\n${s.stdout}`);
  assert.deepEqual([rMe[1], sMe[1]].sort(), plan.addresses);
  assert.equal(rMe[2], sMe[1]);
  assert.match(s.stdout, /3 packets transmitted, 3 packets received/);
  assert.equal(field(r.stdout, "bytes"), String(plan.kib * 1024));
  const sent = field(s.stdout, "sha256");
  assert.match(sent ?? "", /^[0-9a-f]{64}$/);
  assert.equal(field(r.stdout, "sha256"), sent, "the receiver's sha256 must equal the sender's");
  assert.equal(existsSync(dir), false, "the switch directory goes with its last VM");
});

test(
  "a VM killed with SIGKILL leaves a stale socket the next VM removes; a stopped VM leaves nothing",
  { timeout: 300_000 },
  async () => {
    const sw = `kill-${process.pid}`;
    const dir = switchDir(sw);
    const socks = (): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sock")) : []);
    const a = startVm(["--net", `switch:${sw}`, "--", "sleep", "600"]);
    const aSock = `${a.child.pid}-0.sock`;
    await until(() => socks().includes(aSock), "the first VM's switch socket");
    a.child.kill("SIGKILL");
    await a.done;
    assert.deepEqual(socks(), [aSock], "SIGKILL gives the process no chance to clean up");

    const b = startVm(["--net", `switch:${sw}`, "--", "sleep", "600"]);
    const bSock = `${b.child.pid}-0.sock`;
    await until(() => socks().includes(bSock), "the second VM's switch socket");
    assert.deepEqual(socks(), [bSock], "joining the switch removed the dead VM's socket");
    // Let `corral run` install its signal handlers (right after the board is built).
    await new Promise((r) => setTimeout(r, 3000));
    b.child.kill("SIGTERM");
    const fin = await b.done;
    assert.equal(fin.signal, null, fin.stderr);
    assert.equal(existsSync(dir), false, "a stopped VM removes its socket, and the empty switch");
  },
);

// The sender's guest negotiates checksum and TCP segmentation offload, the receiver's NIC offers
// none (offload=off): Corral's device must finish checksums and cut the 64 KiB segments for it
// in software, and the receiving Linux verifies every checksum.
test(
  "offloads: a guest sending 64 KiB TSO segments to a guest without offloads, over a switch",
  { timeout: 900_000 },
  async () => {
    const sw = `e2e-tso-${process.pid}`;
    const features =
      'for d in /sys/bus/virtio/devices/*; do [ $(cat $d/device) = 0x0001 ] && echo "features $(cat $d/features)"; done; ';
    const receiver = startVm(["--net", `switch:${sw},offload=off`, "--", "sh", "-c", features + receiverScript(plan)]);
    const sender = startVm(["--net", `switch:${sw}`, "--", "sh", "-c", features + senderScript(plan)]);
    const [r, s] = await Promise.all([receiver.done, sender.done]);
    assert.equal(s.code, 0, `sender: ${s.stdout}\n${s.stderr}`);
    assert.equal(r.code, 0, `receiver: ${r.stdout}\n${r.stderr}`);
    // virtio 1.2 §5.1.3: bit 0 CSUM, 1 GUEST_CSUM, 7 GUEST_TSO4, 11 HOST_TSO4 (sysfs lists bit 0 first).
    const sf = field(s.stdout, "features") ?? "";
    const rf = field(r.stdout, "features") ?? "";
    assert.equal(`${sf[0]}${sf[11]}`, "11", `the sender negotiated CSUM and HOST_TSO4: ${sf}`);
    assert.equal(`${rf[1]}${rf[7]}`, "00", `the receiver negotiated neither GUEST_CSUM nor GUEST_TSO4: ${rf}`);
    assert.equal(field(r.stdout, "bytes"), String(plan.kib * 1024));
    assert.equal(field(r.stdout, "sha256"), field(s.stdout, "sha256"), "the receiver's sha256 must equal the sender's");
  },
);
