// Issue 18 items 1 and 3, PCI Express and virtio-pci: with --transport pci, Debian's kernel finds
// the ECAM host bridge from the device tree, assigns the BARs itself and binds virtio-pci to
// every Corral device: the disk reads and writes, the NIC gets its DHCP lease, the agent's
// console carries exec, virtio-fs mounts, vsock connects. sysfs lists each function with the
// virtio vendor, device 0x1040 + type and QEMU's class codes. A snapshot of such a VM is refused
// in one line. `lspci -vv` in a Debian guest is checked in tests/debian-image.test.ts, which
// builds the Debian root disk (with pciutils) that it needs.
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, openSync, readSync, closeSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Corral } from "../../src/api/index.js";

const dir = mkdtempSync(join(tmpdir(), "corral-pci-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Vendor, device and class of each function in /sys/bus/pci/devices, and its driver. */
const SYSFS =
  "for d in /sys/bus/pci/devices/*; do echo $(basename $d) $(cat $d/vendor $d/device $d/class) $(basename $(readlink $d/driver) 2>/dev/null); done";

test("every device over virtio-pci in the Debian guest: disk, NIC, console, fs, vsock; snapshot refused", async () => {
  const img = join(dir, "disk.img");
  const disk = Buffer.alloc(1 << 20);
  disk.write("written-by-host", 0);
  writeFileSync(img, disk);
  const share = join(dir, "share");
  mkdirSync(share);
  writeFileSync(join(share, "hello.txt"), "over virtio-fs on PCI\n");
  const sock = join(dir, "vsock.sock");
  const vm = await Corral.start({
    name: `t-pci-${process.pid}`,
    memory: "256M",
    transport: "pci",
    disks: [img],
    shares: [`${share}:pcishare`],
    vsock: sock,
  });
  try {
    const ls = await vm.exec(["sh", "-c", SYSFS]);
    assert.equal(ls.exitCode, 0, ls.stderr);
    const fns = ls.stdout.trim().split("\n");
    // 00:00.0 the host bridge, then the devices in spec order: disk, NIC, vsock, fs, console, balloon, rng.
    assert.deepEqual(fns, [
      "0000:00:00.0 0x1b36 0x0008 0x060000",
      "0000:00:01.0 0x1af4 0x1042 0x010000 virtio-pci",
      "0000:00:02.0 0x1af4 0x1041 0x020000 virtio-pci",
      "0000:00:03.0 0x1af4 0x1053 0x078000 virtio-pci",
      "0000:00:04.0 0x1af4 0x105a 0x018000 virtio-pci",
      "0000:00:05.0 0x1af4 0x1043 0x078000 virtio-pci",
      "0000:00:06.0 0x1af4 0x1045 0x00ff00 virtio-pci",
      "0000:00:07.0 0x1af4 0x1044 0x00ff00 virtio-pci",
    ]);
    const r = await vm.exec([
      "sh",
      "-c",
      "head -c 15 /dev/vda; echo; echo written-by-guest | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null; " +
        "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; " +
        "mount -t virtiofs pcishare /mnt && cat /mnt/hello.txt; " +
        "grep -cE 'PLIC +3[2-5] ' /proc/interrupts; dmesg | grep -c 'BAR 4 .*assigned'",
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const [head, inet, hello, intx, bars] = r.stdout.trim().split("\n");
    assert.equal(head, "written-by-host");
    assert.equal(inet, "inet 10.0.2.15", "DHCP through virtio-net on PCI");
    assert.equal(hello, "over virtio-fs on PCI");
    // Seven functions share INTA..INTD, PLIC sources 32..35, as QEMU's swizzle routes them.
    assert.equal(intx, "4", `INTx lines in /proc/interrupts: ${r.stdout}`);
    assert.equal(bars, "7", "Linux placed every function's BAR 4 itself");
    // Each virtio device bound by its own driver, as over virtio-mmio.
    const drivers = await vm.exec([
      "sh",
      "-c",
      "for d in $(ls /sys/bus/virtio/devices | sort -V); do basename $(readlink /sys/bus/virtio/devices/$d/driver); done",
    ]);
    assert.deepEqual(drivers.stdout.trim().split("\n"), [
      "virtio_blk",
      "virtio_net",
      "vmw_vsock_virtio_transport",
      "virtiofs",
      "virtio_console",
      "virtio_balloon",
      "virtio_rng",
    ]);
    await assert.rejects(vm.snapshot(join(dir, "snap")), /PCI devices cannot be snapshotted yet.*--transport mmio/);
  } finally {
    await vm.remove({ force: true });
  }
  const fd = openSync(img, "r");
  const back = Buffer.alloc(16);
  readSync(fd, back, 0, 16, 4096);
  closeSync(fd);
  assert.equal(back.toString(), "written-by-guest");
});

test("with --irqchip aia the functions signal by MSI-X through the IMSIC, and the devices work", async () => {
  const img = join(dir, "msix.img");
  const disk = Buffer.alloc(1 << 20);
  disk.write("msix-disk", 0);
  writeFileSync(img, disk);
  const vm = await Corral.start({
    name: `t-msix-${process.pid}`,
    memory: "256M",
    irqchip: "aia",
    transport: "pci",
    disks: [img],
  });
  try {
    const r = await vm.exec([
      "sh",
      "-c",
      "head -c 9 /dev/vda; echo; ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; " +
        "ls /sys/bus/pci/devices/0000:00:01.0/msi_irqs | wc -l; " +
        "grep 'PCI-MSIX-0000:00:01.0' /proc/interrupts | awk '{s += $2} END {print (s > 0)}'; " +
        "grep -cE 'PLIC[^ ]* +3[2-5] ' /proc/interrupts || true",
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const [head, inet, vectors, fired, intx] = r.stdout.trim().split("\n");
    assert.equal(head, "msix-disk");
    assert.equal(inet, "inet 10.0.2.15");
    // virtio-blk: the configuration vector and one per queue (one queue).
    assert.equal(vectors, "2", r.stdout);
    assert.equal(fired, "1", "the disk's MSI-X vectors took interrupts");
    assert.equal(intx, "0", "no INTx line was requested");
  } finally {
    await vm.remove({ force: true });
  }
});
