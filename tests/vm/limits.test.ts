// I/O rate limits (issue 18 item 5) through the real CLI with the Debian guest: a disk and a NIC
// started with limits, the guest's reads held to them (the VM's own counters say it waited), the
// limits changed and removed on the running VM, and bad limits refused in one line.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { VM_FILES, vmDir } from "../../src/vm/state.js";
import { oneLineError, scratchHome } from "./scratch-home.js";

const { home, corral } = scratchHome();
const VM = "limited";
const disk = join(home, "data.img");

/** The `corral vm limit` line of `device` (of VM `vm`). */
function limitLine(device: string, vm = VM): string {
  const r = corral(["vm", "limit", vm]);
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${device}\t`));
  assert.ok(line, `no line for ${device} in:\n${r.stdout}`);
  return line;
}

const counter = (line: string, what: string): number => Number(new RegExp(`(\\d+) ${what}`).exec(line)?.[1]);
const waited = (line: string): number => Number(/waited (\d+) times/.exec(line)?.[1]);

before(() => {
  writeFileSync(disk, Buffer.alloc(8 * 2 ** 20, 1));
  const r = corral([
    ...["run", "-d", "--name", VM, "--memory", "256M"],
    ...["--disk", `${disk},iops=20`, "--net", `switch:rl${process.pid},bw=1M,pps=500`],
  ]);
  assert.equal(r.status, 0, r.stderr);
});

after(() => {
  for (const n of [VM, `${VM}-r1`, `${VM}-r2`])
    if (existsSync(join(vmDir(n, home), VM_FILES.record))) corral(["rm", "-f", n]);
  rmSync(home, { recursive: true, force: true });
});

test("a disk started with iops=20 holds the guest to it: its reads wait, and the VM counts them", () => {
  assert.match(limitLine("vda"), /^vda\tbw - iops 20\/s\t/);
  assert.match(limitLine("eth0"), /^eth0\tbw 1M\/s pps 500\/s\t/);
  const before = counter(limitLine("vda"), "requests");
  // 64 direct reads of 4 KiB at 20 a second: each one a request of its own.
  const r = corral(["exec", VM, "--", "dd", "if=/dev/vda", "of=/dev/null", "bs=4k", "count=64", "iflag=direct"]);
  assert.equal(r.status, 0, r.stderr);
  const after = limitLine("vda");
  assert.ok(counter(after, "requests") - before >= 64, after);
  assert.ok(waited(after) > 0, `the queue must have waited for tokens: ${after}`);
  assert.ok(counter(limitLine("eth0"), "frames") > 0, "the NIC's DHCP frames went through its limiter");
});

test("limits change and go away on the running VM; what is read stays correct", () => {
  const set = corral(["vm", "limit", VM, "vda", "bw=64M,iops=1000"]);
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /^vda\tbw 64M\/s iops 1000\/s\t/);
  const off = corral(["vm", "limit", VM, "vda", "off"]);
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /^vda\tunlimited\t/);
  const sum = corral(["exec", VM, "--", "sh", "-c", "dd if=/dev/vda bs=1M count=8 iflag=direct 2>/dev/null | md5sum"]);
  assert.equal(sum.status, 0, sum.stderr);
  const expected = spawnSync("md5sum", [disk], { encoding: "utf8" }).stdout.split(" ")[0];
  assert.equal(sum.stdout.split(" ")[0], expected);
});

test("bad limits are one line: unknown device, the wrong kind of limit, zero, at start too", () => {
  oneLineError(
    corral(["vm", "limit", VM, "eth9", "bw=1M"]),
    /no disk or NIC named 'eth9' in this VM: it has vda, eth0$/,
  );
  oneLineError(corral(["vm", "limit", VM, "vda", "pps=5"]), /pps is not a limit of a disk: use iops=N$/);
  oneLineError(corral(["vm", "limit", VM, "eth0", "bw=0"]), /bw '0' is zero/);
  oneLineError(corral(["vm", "limit", VM, "vda"]), /usage: corral vm limit NAME \[DEVICE LIMITS\|off\]/);
  const r = corral(["run", "-d", "--name", "never", "--disk", `${disk},iops=fast`]);
  oneLineError(r, /iops 'fast' must be a whole number/);
  assert.equal(existsSync(vmDir("never", home)), false, "nothing is left of a VM that never started");
});

test("a snapshot keeps the limits in force, not the spec's: a restore runs with them unless given others", () => {
  // Changed on the running VM since it started with iops=20 and bw=1M,pps=500.
  assert.equal(corral(["vm", "limit", VM, "vda", "bw=32M,iops=300"]).status, 0);
  assert.equal(corral(["vm", "limit", VM, "eth0", "bw=2M"]).status, 0);
  const snap = join(home, "snap");
  const s = corral(["snapshot", VM, snap]);
  assert.equal(s.status, 0, s.stderr);
  const r1 = corral(["restore", snap, "--name", `${VM}-r1`]);
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(limitLine("vda", `${VM}-r1`), /^vda\tbw 32M\/s iops 300\/s\t/);
  assert.match(limitLine("eth0", `${VM}-r1`), /^eth0\tbw 2M\/s pps -\t/);
  assert.equal(corral(["rm", "-f", `${VM}-r1`]).status, 0);
  // Given others: those, and only for the devices named.
  const r2 = corral(["restore", snap, "--name", `${VM}-r2`, "--limit", "vda:off", "--limit", "eth0:bw=4M,pps=100"]);
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(limitLine("vda", `${VM}-r2`), /^vda\tunlimited\t/);
  assert.match(limitLine("eth0", `${VM}-r2`), /^eth0\tbw 4M\/s pps 100\/s\t/);
  assert.equal(corral(["rm", "-f", `${VM}-r2`]).status, 0);
  oneLineError(
    corral(["restore", snap, "--name", `${VM}-r3`, "--limit", "vdz:bw=1M"]),
    /no disk or NIC named 'vdz' in this snapshot: it has vda, eth0$/,
  );
  oneLineError(corral(["restore", snap, "--limit", "vda"]), /--limit 'vda': give DEVICE:LIMITS/);
  oneLineError(corral(["restore", snap, "--limit", "vda:pps=5"]), /pps is not a limit of a disk: use iops=N$/);
  assert.equal(existsSync(vmDir(`${VM}-r3`, home)), false, "nothing is left of a restore refused");
});
