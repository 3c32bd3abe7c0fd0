// Issue 18 item 4, SR-IOV: a virtio-net physical function over PCI with vfs=4 in Debian's kernel
// (PCI_IOV built in). Writing sriov_numvfs makes Linux's pci_iov enable VFs through the SR-IOV
// capability; each VF is a virtio-pci function bound by virtio-net with its own MAC; 0 removes
// them; a count above TotalVFs is the kernel's ERANGE and the VM runs on. End to end: VFs moved
// into network namespaces of the guest get their own DHCP leases on Corral's switch and reach
// another VM, which sees them at their own MACs.
//
// virtio-net's netdev hangs off the virtio device, whose parent is the PCI function, so the
// PCI attributes are at /sys/class/net/eth0/device/../ (the PF's), not .../device/ as for a NIC
// whose driver is a PCI driver itself.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Corral, type Vm } from "../../src/api/index.js";
import { vfMac } from "../../src/net/attach.js";

const sw = `sriov${process.pid}`;
let a: Vm;
let b: Vm;
before(async () => {
  [a, b] = await Promise.all([
    // VFs signal by MSI-X only (they have no INTx pin, PCIe §9.3.4.1.14): the AIA's IMSIC takes them.
    Corral.start({
      name: `t-sriov-a-${process.pid}`,
      memory: "256M",
      irqchip: "aia",
      networks: [`switch:${sw},transport=pci,vfs=4`],
    }),
    Corral.start({ name: `t-sriov-b-${process.pid}`, memory: "256M", networks: [`switch:${sw}`] }),
  ]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const PF = "/sys/class/net/eth0/device/..";
/** The guest's VF netdevs (a VF's PCI function has a physfn link), in PCI order: name, MAC, driver, PCI address. */
const VFS =
  "for i in /sys/class/net/*; do [ -e $i/device/../physfn ] && echo $(basename $(readlink -f $i/device/..)) " +
  "$(basename $i) $(cat $i/address) $(basename $(readlink $i/device/driver)) $(cat $i/device/../vendor $i/device/../device); done | sort";

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec(["sh", "-c", script]);
  assert.equal(r.exitCode, 0, `${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

test("sriov_numvfs: 4 VFs bound by virtio-net with their own MACs; above TotalVFs refused; 0 removes them", async () => {
  assert.equal(await sh(a, `cat ${PF}/sriov_totalvfs ${PF}/sriov_numvfs ${PF}/sriov_vf_device`), "4\n0\n1041");
  assert.equal(await sh(a, VFS), "", "no VF before enable");
  const pfMac = await sh(a, "cat /sys/class/net/eth0/address");
  await sh(a, `echo 4 > ${PF}/sriov_numvfs`);
  const vfs = (await sh(a, VFS)).split("\n").map((l) => l.split(" "));
  assert.equal(vfs.length, 4, JSON.stringify(vfs));
  vfs.forEach(([pci, , mac, driver, vendor, device], k) => {
    // First VF Offset and Stride put VF k at bus 0 device 2 function k (after the PF at 00:01.0).
    assert.equal(pci, `0000:00:02.${k}`);
    assert.equal(mac, vfMac(pfMac, k), `VF ${k}'s own MAC`);
    assert.equal(driver, "virtio_net");
    assert.equal(`${vendor} ${device}`, "0x1af4 0x1041");
  });
  assert.equal(new Set(vfs.map((v) => v[2])).size, 4, "distinct MACs");
  assert.equal(await sh(a, `cat ${PF}/sriov_numvfs`), "4");
  // Linux refuses a count above TotalVFs before touching the device (sriov_numvfs_store: -ERANGE).
  const bad = await a.exec(["sh", "-c", `echo 5 > ${PF}/sriov_numvfs`]);
  assert.notEqual(bad.exitCode, 0);
  assert.match(bad.stderr, /out of range/);
  await sh(a, `echo 0 > ${PF}/sriov_numvfs`);
  assert.equal(await sh(a, VFS), "", "VFs removed");
  assert.equal(await sh(a, "ls /sys/bus/pci/devices | grep -c '00:02' || true"), "0");
  // The PF works throughout: its DHCP address is still there and it still reaches the other VM.
  const bIp = await sh(b, "ip -4 addr show eth0 | grep -o 'inet [0-9.]*' | cut -d' ' -f2");
  await sh(a, `ping -c 1 -W 5 ${bIp}`);
});

test("VFs in network namespaces of the guest get their own leases and reach another VM at their own MACs", async () => {
  const bIp = await sh(b, "ip -4 addr show eth0 | grep -o 'inet [0-9.]*' | cut -d' ' -f2");
  await sh(a, `echo 2 > ${PF}/sriov_numvfs`);
  const vfs = (await sh(a, VFS)).split("\n").map((l) => l.split(" "));
  assert.equal(vfs.length, 2);
  const ips: string[] = [];
  for (const [, ifname] of vfs) {
    // A namespace held by a sleeping process (a container's), the VF moved in, DHCP on the switch.
    const out = await sh(
      a,
      `unshare -n sleep 600 </dev/null >/dev/null 2>&1 & P=$!; ` +
        `while [ "$(readlink /proc/$P/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.1; done; ` +
        `ip link set ${ifname} netns $P && nsenter -t $P -n sh -c '` +
        `ip link set lo up; ip link set ${ifname} up; ` +
        `L=$(udhcpc -i ${ifname} -n -q -s /bin/true 2>&1 | grep -o "lease of [0-9.]*" | cut -d" " -f3); ` +
        `ip addr add $L/24 dev ${ifname}; echo $L; ping -c 2 -W 5 ${bIp} >/dev/null && echo reached'`,
    );
    const [ip, reached] = out.split("\n");
    assert.match(ip ?? "", /^10\.0\.2\.\d+$/, out);
    assert.equal(reached, "reached", out);
    ips.push(ip!);
  }
  assert.equal(new Set(ips).size, 2, "each VF its own lease");
  // The other VM learned each VF's address at that VF's MAC.
  const neigh = await sh(b, "ip neigh");
  vfs.forEach(([, , mac], k) =>
    assert.match(neigh, new RegExp(`${ips[k]!.replaceAll(".", "\\.")} .*lladdr ${mac}`), neigh),
  );
  await sh(a, "kill $(pidof sleep) 2>/dev/null; true");
});
