// Fork with a real guest (issue 16 item 4): two clones of a running VM answer exec, each with its
// own name as hostname; Linux's vmgenid driver (bound to Corral's "microsoft,vmgenid" device)
// saw the generation ID change and reseeded the kernel's RNG; what a clone writes stays in it.
// --count 0, more clones than the host's free memory, and a parent that is not running are refused
// before anything starts. Writes after the fork (the parent's, a clone's) never reach another, also
// on a second fork of the same parent.
// The parent has a port forward: it keeps it, and its clones (which could not listen on the same
// host port) start without one (src/snapshot/clone-net.ts).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral, type Vm } from "../../src/api/index.js";
import { checkForkCount } from "../../src/snapshot/fork.js";
import { vmDir, vmsRoot } from "../../src/vm/state.js";
import { LATER_FORK_NOTE } from "../../src/vm/phases.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const NAME = `t-fork-${process.pid}`;
const RESEEDED = "crng reseeded due to virtual machine fork";
let parent: Vm;
const vms: Vm[] = [];

let port = 0;

before(async () => {
  // A free port of the host's loopback for the parent's forward.
  const probe = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => probe.once("listening", r));
  port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  parent = await Corral.start({ name: NAME, memory: "256M", ports: [`${port}:8080`] });
  vms.push(parent);
  const r = await parent.exec([
    "sh",
    "-c",
    "echo parent > /tmp/mark; mkdir /tmp/www; echo served > /tmp/www/x; httpd -p 8080 -h /tmp/www",
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
});

after(async () => {
  for (const vm of vms.reverse()) await vm.stop().catch(() => {});
  for (const n of readdirSync(vmsRoot())) if (n.startsWith(NAME)) spawnSync("rm", ["-rf", vmDir(n)]);
});

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec(["sh", "-c", script]);
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

test("fork --count 2: clones answer exec with their own hostname and a new VM generation ID", async () => {
  // The driver bound to the device at boot.
  assert.match(await sh(parent, "ls /sys/bus/platform/drivers/vmgenid"), /vmgenid/);
  const clones = await parent.fork({ count: 2 });
  vms.push(...clones);
  assert.equal(clones.length, 2);
  const [a, b] = clones as [Vm, Vm];
  assert.notEqual(a.name, b.name);
  assert.equal(await sh(a, "hostname"), a.name);
  assert.equal(await sh(b, "hostname"), b.name);
  assert.equal(await sh(a, "cat /tmp/mark"), "parent");
  for (const c of clones) assert.match(await sh(c, "dmesg"), new RegExp(RESEEDED));
  assert.doesNotMatch(await sh(parent, "dmesg"), new RegExp(RESEEDED));

  await sh(a, "echo clone-a > /tmp/mark");
  assert.equal(await sh(b, "cat /tmp/mark"), "parent");
  assert.equal(await sh(parent, "cat /tmp/mark"), "parent");
  assert.equal(await sh(a, "cat /tmp/mark"), "clone-a");

  // The parent's forward still reaches its httpd.
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/x`)).text(), "served\n");

  // The parent writes after the fork (a file and 4 MiB of new pages): no clone sees either; a
  // clone's 4 MiB stay its own. The parent's RAM was a memory file its clones map (write.ts
  // linkRam): the parent now writes into pages of its own, never into that file.
  const big = "dd if=/dev/urandom of=/tmp/big bs=64k count=64 2>/dev/null && md5sum /tmp/big | cut -c1-32";
  const parentSum = await sh(parent, `echo later > /tmp/after && ${big}`);
  const bSum = await sh(b, big);
  assert.notEqual(parentSum, bSum);
  for (const c of clones) assert.equal(await sh(c, "cat /tmp/after 2>/dev/null || echo none"), "none");
  assert.equal(await sh(a, "cat /tmp/big 2>/dev/null | wc -c"), "0");
  assert.equal(await sh(parent, "md5sum /tmp/big | cut -c1-32"), parentSum);
  assert.equal(await sh(b, "md5sum /tmp/big | cut -c1-32"), bSum);
});

test("a second fork of the same parent (its RAM now private to it, linked with the pages written since): the clone starts from the parent as it is now", async () => {
  const [c] = (await parent.fork({ count: 1 })) as [Vm];
  vms.push(c);
  // Linked again, not written out: the first fork's frozen file and the pages written since
  // (src/snapshot/write.ts), among them the parent's 4 MiB written after the first fork.
  assert.match(readFileSync(join(vmDir(c.name), "console.log"), "latin1"), new RegExp(LATER_FORK_NOTE));
  assert.equal(await sh(c, "cat /tmp/after"), "later");
  assert.equal(await sh(c, "cat /tmp/mark"), "parent");
  const sum = await sh(parent, "md5sum /tmp/big | cut -c1-32");
  assert.equal(await sh(c, "md5sum /tmp/big | cut -c1-32"), sum);
  await sh(parent, "echo again > /tmp/after");
  await sh(c, "echo clone-c > /tmp/mark");
  assert.equal(await sh(c, "cat /tmp/after"), "later");
  assert.equal(await sh(parent, "cat /tmp/mark"), "parent");
});

test("a fork of a VM that is not running: one line, nothing started", () => {
  const r = spawnSync(process.execPath, [CORRAL, "fork", `${NAME}-none`, "--count", "1"], { encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /no running VM named/);
  assert.equal(readdirSync(vmsRoot()).filter((n) => n.startsWith(`${NAME}-none`)).length, 0);
});

test("--count 0, or more clones than free memory holds: refused before anything starts", () => {
  const before = readdirSync(vmsRoot()).filter((n) => n.startsWith(NAME)).length;
  const r = spawnSync(process.execPath, [CORRAL, "fork", NAME, "--count", "0"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /--count must be a whole number from 1/);
  assert.equal(readdirSync(vmsRoot()).filter((n) => n.startsWith(NAME)).length, before);
  assert.throws(() => checkForkCount(5, 2 ** 30, 4 * 2 ** 30), /more than the host's free memory/);
  assert.doesNotThrow(() => checkForkCount(3, 2 ** 30, 4 * 2 ** 30));
  assert.equal(existsSync(vmDir(`${NAME}-none`)), false);
});
