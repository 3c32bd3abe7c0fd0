// The Advanced Interrupt Architecture with Debian's kernel (issue 18 item 2): a VM with
// --irqchip aia and two harts boots; /proc/interrupts shows every wired device behind Linux's
// APLIC-MSI domain of the S-level APLIC (as under QEMU's aia=aplic-imsic, whose chip is named the
// same), IPIs taken on both harts through the IMSIC (Linux 6.12 prefers them to the SBI's), the
// console, a disk and the user-mode NIC working; a snapshot of it restores and carries on.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Corral, type Vm } from "../../src/api/index.js";
import { vmDir } from "../../src/vm/state.js";

const dir = mkdtempSync(join(tmpdir(), "corral-aia-"));
const NAME = `t-aia-${process.pid}`;
const disk = join(dir, "disk.img");
const vms: Vm[] = [];
let vm: Vm;

async function sh(v: Vm, script: string): Promise<string> {
  const r = await v.exec(["sh", "-c", script]);
  assert.equal(r.exitCode, 0, `${script}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** /proc/interrupts as rows: the name in the last column, per-CPU counts, the chip. */
function interrupts(text: string): Map<string, { counts: number[]; chip: string }> {
  const lines = text.trim().split("\n");
  const cpus = lines[0]!.trim().split(/\s+/).length;
  const rows = new Map<string, { counts: number[]; chip: string }>();
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    const counts = f.slice(1, 1 + cpus).map(Number);
    const rest = f.slice(1 + cpus);
    const name = f[0]!.startsWith("IPI") ? f[0]!.replace(":", "") : rest.at(-1)!;
    rows.set(name, { counts, chip: rest[0] ?? "" });
  }
  return rows;
}

before(async () => {
  writeFileSync(disk, Buffer.alloc(4 << 20));
  vm = await Corral.start({ name: NAME, memory: "256M", cpus: 2, irqchip: "aia", disks: [disk] });
  vms.push(vm);
});

after(async () => {
  for (const v of vms.reverse()) await v.stop().catch(() => {});
  for (const n of ["", "-r"]) rmSync(vmDir(NAME + n), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

test("Debian's kernel on the AIA: devices behind APLIC-MSI, IPIs through the IMSIC on both harts", async () => {
  const dmesg = await sh(vm, "dmesg");
  assert.match(dmesg, /riscv-intc: \d+ local interrupts mapped using AIA/);
  assert.match(dmesg, /riscv-imsic: imsics@28000000: providing IPIs using interrupt 1/);
  assert.match(dmesg, /riscv-aplic d000000\.aplic: 96 interrupts forwarded to MSI base 0x0*28000000/);
  assert.match(dmesg, /smp: Brought up 1 node, 2 CPUs/);
  // Make both harts busy for a moment so each takes IPIs (rescheduling, function calls).
  await sh(vm, "for i in 1 2 3 4; do (i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done) & done; wait");
  const irqs = interrupts(await sh(vm, "cat /proc/interrupts"));
  for (const dev of ["ttyS0", "101000.rtc", "virtio0", "virtio1", "virtio2"]) {
    assert.equal(irqs.get(dev)?.chip, "APLIC-MSI-d000000.aplic", `${dev}: ${JSON.stringify(irqs.get(dev))}`);
  }
  assert.equal(irqs.get("riscv-timer")?.chip, "RISC-V");
  const ipis = (irqs.get("IPI0")?.counts ?? []).map((n, i) => n + (irqs.get("IPI1")?.counts[i] ?? 0));
  assert.equal(ipis.length, 2);
  assert.ok(
    ipis.every((n) => n > 0),
    `IPIs on each hart: ${ipis.join(", ")}`,
  );
  // The agent's virtio-console answered all of this; the disk and the NIC work too.
  assert.equal(
    await sh(
      vm,
      "echo AIADISK | dd of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches; head -c 7 /dev/vda",
    ),
    "AIADISK",
  );
  assert.match(await sh(vm, "ip -4 addr show eth0"), /inet 10\.0\.2\.15\//);
  const vda = interrupts(await sh(vm, "cat /proc/interrupts"));
  const blk = [...vda.entries()].find(([, r]) => r.chip.startsWith("APLIC-MSI") && r.counts.some((n) => n > 0));
  assert.ok(blk, "the devices' interrupts were counted");
});

test("a snapshot of an AIA VM restores with its interrupt controllers' state", async () => {
  await sh(vm, "echo before > /tmp/mark");
  const snap = join(dir, "snap");
  await vm.snapshot(snap);
  const r = await Corral.restore(snap, { name: `${NAME}-r` });
  vms.push(r);
  assert.equal((await sh(r, "cat /tmp/mark")).trim(), "before");
  // Interrupts keep flowing after the restore: the console, the disk, the timer on both harts.
  assert.equal(await sh(r, "head -c 7 /dev/vda"), "AIADISK");
  const a = interrupts(await sh(r, "cat /proc/interrupts"));
  await sh(r, "sleep 1");
  const b = interrupts(await sh(r, "cat /proc/interrupts"));
  const t = (m: typeof a): number[] => m.get("riscv-timer")!.counts;
  assert.ok(
    t(b).every((n, i) => n > t(a)[i]!),
    `timer ticks on both harts: ${t(a)} -> ${t(b)}`,
  );
});
