// Fork of a VM on a switch (issue 16 item 4, src/snapshot/clone-net.ts): each clone's guest holds
// a MAC of its own (/sys/class/net/eth0/address), took an address of its own from the switch's
// DHCP (the switch's lease file says so), and the parent and both clones ping each other over the
// switch (Unix sockets in a scratch $CORRAL_HOME: no host network). What one clone writes, to its
// memory (/tmp) or its disk, appears neither in the other nor in the parent.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Corral, type Vm } from "../../src/api/index.js";
import { switchDir } from "../../src/net/attach.js";
import { formatIpv4 } from "../../src/net/packet.js";
import { vmsRoot } from "../../src/vm/state.js";

const NAME = `t-forknet-${process.pid}`;
const SWITCH = `fn${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "corral-forknet-"));
const disk = join(dir, "disk.img");
let parent: Vm;
const vms: Vm[] = [];

before(async () => {
  writeFileSync(disk, "");
  truncateSync(disk, 4 << 20);
  parent = await Corral.start({
    name: NAME,
    memory: "256M",
    networks: [`switch:${SWITCH}`],
    disks: [`${disk},format=raw`],
  });
  vms.push(parent);
  await sh(parent, "echo parent > /tmp/mark; printf 'parent\\n' | dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync");
});

after(async () => {
  for (const vm of vms.reverse()) await vm.stop().catch(() => {});
  for (const vm of vms) rmSync(join(vmsRoot(), vm.name), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec(["sh", "-c", script]);
  assert.equal(r.exitCode, 0, `${vm.name}: ${script}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

/** What the guest itself says: eth0's MAC and IPv4 address. */
async function identity(vm: Vm): Promise<{ mac: string; ip: string }> {
  const mac = await sh(vm, "cat /sys/class/net/eth0/address");
  const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(await sh(vm, "ip -4 addr show dev eth0"))?.[1];
  assert.ok(ip, `${vm.name} has no IPv4 address on eth0`);
  return { mac, ip };
}

/** What the guest reads at block 8 of its disk, past its page cache. */
function diskMark(vm: Vm): Promise<string> {
  return sh(vm, "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -n 1");
}

test("fork on a switch: each clone has its own MAC and lease, all ping each other, writes stay apart", async () => {
  const p = await identity(parent);
  const clones = await parent.fork({ count: 2 });
  vms.push(...clones);
  const [a, b] = clones as [Vm, Vm];
  const ids = [p, await identity(a), await identity(b)];

  // Three MACs, unicast and locally administered; three addresses.
  assert.equal(new Set(ids.map((i) => i.mac)).size, 3, JSON.stringify(ids));
  assert.equal(new Set(ids.map((i) => i.ip)).size, 3, JSON.stringify(ids));
  for (const { mac } of ids) assert.equal(parseInt(mac.slice(0, 2), 16) & 3, 2, mac);
  // The parent kept its own.
  assert.deepEqual(await identity(parent), p);
  // Each address is the lease of that MAC in the switch's shared lease file.
  const leases = (
    JSON.parse(readFileSync(join(switchDir(SWITCH), "leases.json"), "utf8")) as {
      leases: { mac: string; ip: number }[];
    }
  ).leases;
  for (const { mac, ip } of ids)
    assert.deepEqual(
      leases.filter((l) => l.mac === mac).map((l) => formatIpv4(l.ip)),
      [ip],
      `lease of ${mac}`,
    );

  // Everyone reaches everyone over the switch.
  const all = [parent, a, b];
  for (const [i, vm] of all.entries())
    for (const [j, peer] of ids.entries())
      if (i !== j)
        assert.match(await sh(vm, `ping -c 1 -W 10 ${peer.ip}`), /1 packets received/, `${vm.name} to ${peer.ip}`);
  // Each guest's neighbour table holds the others' new MACs.
  const neigh = await sh(parent, "ip neigh show dev eth0");
  for (const { mac, ip } of ids.slice(1)) assert.match(neigh, new RegExp(`${ip.replaceAll(".", "\\.")} .*${mac}`));

  // Memory and disk: a clone's writes are its own.
  await sh(a, "echo clone-a > /tmp/mark; printf 'clone-a\\n' | dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync");
  assert.equal(await sh(a, "cat /tmp/mark"), "clone-a");
  assert.equal(await diskMark(a), "clone-a");
  for (const vm of [parent, b]) {
    assert.equal(await sh(vm, "cat /tmp/mark"), "parent", vm.name);
    assert.equal(await diskMark(vm), "parent", vm.name);
  }
});
