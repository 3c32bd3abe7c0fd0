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
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Corral, type Vm } from "../../src/api/index.js";
import { vfMac } from "../../src/net/attach.js";
import { vmDir } from "../../src/vm/state.js";

const sw = `sriov${process.pid}`;
const root = fileURLToPath(new URL("../../..", import.meta.url));
/** The VFs moved into namespaces: the namespace's holder, the VF's netdev and MAC. */
const held: { pid: string; ifname: string; mac: string }[] = [];
const ips: string[] = [];
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
  await Promise.all([a?.remove({ force: true }), b?.remove({ force: true })]);
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
  ips.length = 0;
  for (const [, ifname] of vfs) {
    // A namespace held by a sleeping process (a container's), the VF moved in, DHCP on the switch.
    const out = await sh(
      a,
      `unshare -n sleep 600 </dev/null >/dev/null 2>&1 & P=$!; ` +
        `while [ "$(readlink /proc/$P/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.1; done; ` +
        `ip link set ${ifname} netns $P && nsenter -t $P -n sh -c '` +
        `ip link set lo up; ip link set ${ifname} up; ` +
        `L=$(udhcpc -i ${ifname} -n -q -s /bin/true 2>&1 | grep -o "lease of [0-9.]*" | cut -d" " -f3); ` +
        `ip addr add $L/24 dev ${ifname}; echo $L; ping -c 2 -W 5 ${bIp} >/dev/null && echo reached'; echo $P`,
    );
    const [ip, reached, pid] = out.split("\n");
    held.push({ pid: pid!, ifname: ifname!, mac: vfs[ips.length]![2]! });
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
});

test("the host's settings per VF: link state, spoof checking and trust, port VLAN, rate, MAC", async () => {
  assert.equal(held.length, 2, "the namespaces of the test before");
  const bIp = await sh(b, "ip -4 addr show eth0 | grep -o 'inet [0-9.]*' | cut -d' ' -f2");
  const inNs = (k: number, cmd: string): Promise<{ exitCode: number; stdout: string; stderr: string }> =>
    a.exec(["nsenter", "-t", held[k]!.pid, "-n", "sh", "-c", cmd]);
  const carrier = async (k: number): Promise<string> => {
    // sysfs shows the namespace it was mounted in: ask ip, in the VF's namespace.
    const r = await inNs(k, `ip link show ${held[k]!.ifname}`);
    return r.stdout.includes("NO-CARRIER") ? "0" : r.stdout.includes("LOWER_UP") ? "1" : r.stdout + r.stderr;
  };
  const reaches = async (k: number, ip: string): Promise<boolean> =>
    (await inNs(k, `ping -c 1 -W 3 ${ip}`)).exitCode === 0;
  // The CLI lists every VF the NIC has (4), enabled by the guest or not.
  const list = execFileSync(process.execPath, [join(root, "bin/corral.js"), "vf", a.name, "list"], {
    encoding: "utf8",
  });
  assert.equal(list.trim().split("\n").length, 4, list);
  assert.match(
    list,
    new RegExp(`eth0 vf 0\teth0vf0\tmac ${held[0]!.mac}\tvlan 0\trate unlimited\tspoofchk on\ttrust off\tstate auto`),
  );

  // Link state: disable is no carrier in the guest and no traffic; auto brings both back.
  await a.setVf(0, { state: "disable" });
  assert.equal(await carrier(0), "0");
  assert.equal(await reaches(0, bIp), false);
  await a.setVf(0, { state: "auto" });
  assert.equal(await carrier(0), "1");
  assert.equal(await reaches(0, bIp), true);

  // Spoof checking: the guest gives VF 0 another MAC: dropped; trusted: passes.
  const ifname = held[0]!.ifname;
  await inNs(0, `ip link set ${ifname} address 56:54:aa:bb:cc:dd`);
  await sh(b, "ip neigh flush dev eth0");
  assert.equal(await reaches(0, bIp), false, "spoofchk drops frames from a MAC that is not the VF's");
  const t = await a.setVf(0, { trust: true });
  assert.equal(t.trust, true);
  await sh(b, "ip neigh flush dev eth0");
  assert.equal(await reaches(0, bIp), true, "a trusted VF may use another MAC");
  await inNs(0, `ip link set ${ifname} address ${held[0]!.mac}`);
  await a.setVf(0, { trust: false });
  await sh(b, "ip neigh flush dev eth0");
  assert.equal(await reaches(0, bIp), true);

  // A port VLAN on both VFs: they reach each other, no longer the untagged VM; 0 undoes it.
  await a.setVf("eth0vf0", { vlan: 5 });
  await a.setVf("eth0vf1", { vlan: 5 });
  assert.equal(await reaches(0, ips[1]!), true, "VF 0 and VF 1 share VLAN 5");
  assert.equal(await reaches(0, bIp), false, "the other VM is not on VLAN 5");
  await a.setVf(0, { vlan: 0 });
  await a.setVf(1, { vlan: 0 });
  await sh(b, "ip neigh flush dev eth0");
  assert.equal(await reaches(0, bIp), true);

  // Rate: the VF's own limiter (bytes per second each way); null removes it.
  assert.equal((await a.setVf(0, { rate: 2 ** 20 })).rate, 2 ** 20);
  assert.equal(await reaches(0, bIp), true);
  assert.equal((await a.setVf(0, { rate: null })).rate, undefined);
  // Bad settings are refused in one line, nothing changes.
  await assert.rejects(a.setVf(0, { vlan: 4095 }), /vlan/);
  await assert.rejects(a.setVf(9, { trust: true }), /no VF '9'/);
  assert.equal((await a.vfs())[0]!.vlan, 0);

  // MAC: what the guest's driver reads when it next probes the VF.
  await a.setVf(3, { mac: "5e:54:12:34:56:78" });
  await sh(a, `kill ${held.map((h) => h.pid).join(" ")}; echo 0 > ${PF}/sriov_numvfs; echo 4 > ${PF}/sriov_numvfs`);
  const macs = (await sh(a, VFS)).split("\n").map((l) => l.split(" ")[2]);
  assert.equal(macs[3], "5e:54:12:34:56:78");
  await sh(a, `echo 0 > ${PF}/sriov_numvfs`);
});

test("VFs without --irqchip aia are refused before anything starts, in one line that says what to add", async () => {
  const name = `t-sriov-plic-${process.pid}`;
  await assert.rejects(
    Corral.start({ name, memory: "256M", networks: [`switch:${sw},transport=pci,vfs=2`] }),
    (e: Error) => /has virtual functions, which signal only by MSI-X: add --irqchip aia/.test(e.message),
  );
  // Nothing of it is left: no VM directory under that name.
  assert.equal(existsSync(vmDir(name)), false);
});
