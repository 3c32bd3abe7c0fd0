import assert from "node:assert/strict";
import { test } from "node:test";
import * as z from "zod/mini";
import { DEVICE_KINDS } from "../devices/registry.js";
import { CorralError, FieldError } from "../errors.js";
import { vmSpec } from "./options.js";
import { parseVmSpec, STANDARD_DEVICES, VmSpecSchema, vmSpecJsonSchema } from "./spec.js";

/** parseVmSpec(input) fails with `code` and exactly `message`, on one line. */
function refuses(input: unknown, code: string, message: string): void {
  assert.throws(
    () => parseVmSpec(input),
    (e: unknown) => {
      assert.ok(e instanceof FieldError, String(e));
      assert.equal(e.code, code);
      assert.equal(e.message, message);
      assert.equal(e.exitCode, 2);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
}

test("defaults: one hart, 512M, ttyS0, the standard devices (agent console, balloon, rng)", () => {
  const s = parseVmSpec({});
  assert.deepEqual(s, {
    harts: 1,
    memory: 512 * 2 ** 20,
    boot: {},
    console: "ttyS0",
    irqchip: "plic",
    devices: [{ kind: "console", ports: ["org.corral.agent"] }, { kind: "balloon" }, { kind: "rng" }],
  });
  assert.deepEqual(s.devices, STANDARD_DEVICES);
});

test("a validated spec survives JSON (the VM process receives it so) unchanged", () => {
  const s = vmSpec({
    name: "web",
    memory: "1G",
    cpus: 2,
    console: "hvc0",
    disks: ["a.img,ro", "b.img"],
    nets: ["switch:lan,mac=52:54:00:AB:CD:EF,offload=off", "tap:t0"],
  });
  assert.deepEqual(parseVmSpec(JSON.parse(JSON.stringify(s))), s);
  assert.deepEqual(
    s.devices.map((d) => d.kind),
    ["blk", "blk", "net", "net", "console", "balloon", "rng"],
  );
  assert.deepEqual(s.devices[2], {
    kind: "net",
    backend: { type: "switch", switch: "lan", offload: false },
    mac: "52:54:00:ab:cd:ef",
  });
});

test("the default NIC is user-mode networking; --net none has none; -p goes to the first user NIC", () => {
  const kinds = (o: Parameters<typeof vmSpec>[0]): string[] => vmSpec(o).devices.map((d) => d.kind);
  assert.deepEqual(kinds({}), ["net", "console", "balloon", "rng"]);
  assert.deepEqual(vmSpec({}).devices[0], { kind: "net", backend: { type: "user" } });
  assert.deepEqual(kinds({ nets: ["none"] }), ["console", "balloon", "rng"]);
  assert.deepEqual(kinds({ nets: ["switch:lan"] }), ["net", "console", "balloon", "rng"]);
  assert.deepEqual(vmSpec({ publish: ["8080:80", "10.1.2.3:53:53/udp"] }).devices[0], {
    kind: "net",
    backend: {
      type: "user",
      forwards: [
        { proto: "tcp", hostIp: "127.0.0.1", hostPort: 8080, guestPort: 80 },
        { proto: "udp", hostIp: "10.1.2.3", hostPort: 53, guestPort: 53 },
      ],
    },
  });
  assert.deepEqual(vmSpec({ nets: ["user,host-loopback=on,dns=127.0.0.1:5353"] }).devices[0], {
    kind: "net",
    backend: { type: "user", hostLoopback: true, dns: "127.0.0.1:5353" },
  });
  assert.throws(() => vmSpec({ nets: ["none"], publish: ["80:80"] }), { code: "BAD_PORT_FORWARD" });
  assert.throws(() => vmSpec({ nets: ["none", "user"] }), { code: "BAD_NET" });
  assert.throws(() => vmSpec({ publish: ["80:80", "80:81"] }), { code: "BAD_PORT_FORWARD" });
  assert.throws(() => vmSpec({ nets: ["user:x"] }), { code: "BAD_NET" });
  assert.throws(() => vmSpec({ nets: ["user,dns=nope"] }), { code: "BAD_NET" });
  assert.throws(() => vmSpec({ disks: ["a", "b", "c", "d", "e"] }), {
    code: "TOO_MANY_DEVICES",
    message: "9 devices with the default user-mode NIC, but at most 8 fit on the board: add --net none or drop a disk",
  });
  assert.equal(kinds({ disks: ["a", "b", "c", "d", "e"], nets: ["none"] }).length, 8);
});

test("sizes: bytes or one size syntax; bad ones refused with a one-line message", () => {
  assert.equal(parseVmSpec({ memory: "256" }).memory, 256 * 2 ** 20);
  assert.equal(parseVmSpec({ memory: 64 * 2 ** 20 }).memory, 64 * 2 ** 20);
  refuses({ memory: "lots" }, "BAD_SIZE", "memory 'lots' is not a size: use e.g. 512M or 1G");
  refuses({ memory: "-1M" }, "BAD_SIZE", "memory '-1M' is negative: give a size such as 512M or 1G");
  refuses({ memory: -4096 }, "BAD_SIZE", "memory '-4096' is negative: give a size such as 512M or 1G");
  refuses({ memory: "0" }, "BAD_SIZE", "memory '0' is zero: give a size such as 512M or 1G");
  refuses({ memory: "8M" }, "MEMORY_TOO_SMALL", "memory must be at least 16M (got 8M)");
  refuses({ memory: 17 * 2 ** 20 + 1 }, "MEMORY_ALIGN", "memory must be a multiple of 4K");
  refuses({ harts: 9 }, "BAD_CPUS", "harts must be a whole number from 1 to 8 (got 9)");
  refuses({ harts: 1.5 }, "BAD_CPUS", "harts must be a whole number from 1 to 8 (got 1.5)");
});

test("unknown device kinds, unknown fields and bad device options", () => {
  refuses(
    { devices: [{ kind: "rng" }, { kind: "gpu" }] },
    "UNKNOWN_DEVICE",
    "devices[1].kind 'gpu' is not a device kind: use one of blk, net, console, balloon, rng, vsock, fs",
  );
  refuses({ cpus: 2 }, "BAD_SPEC", "spec has no field 'cpus'");
  refuses({ devices: [{ kind: "rng", speed: 1 }] }, "BAD_SPEC", "devices[0] has no field 'speed'");
  refuses({ devices: [{ kind: "blk" }] }, "BAD_DEVICE", "devices[0].path is required");
  refuses(
    { devices: [{ kind: "blk", path: "a.img", format: "qcow2" }] },
    "BAD_DEVICE",
    "devices[0].format must be raw or overlay",
  );
  assert.deepEqual(vmSpec({ disks: ["a.img,ro,format=overlay"] }).devices[0], {
    kind: "blk",
    path: "a.img",
    readOnly: true,
    format: "overlay",
  });
  refuses(
    { devices: [{ kind: "net", backend: { type: "switch", switch: "lan" }, mac: "01:00:5e:00:00:01" }] },
    "BAD_DEVICE",
    "devices[0].mac must be a unicast MAC: its first byte even",
  );
  refuses(
    { devices: [{ kind: "fs", path: "/srv", tag: "x".repeat(37) }] },
    "BAD_DEVICE",
    `devices[0].tag '${"x".repeat(37)}' must be 1 to 36 bytes (UTF-8), without NUL`,
  );
  refuses(
    { devices: [{ kind: "fs", path: "/srv", tag: "" }] },
    "BAD_DEVICE",
    "devices[0].tag '' must be 1 to 36 bytes (UTF-8), without NUL",
  );
  refuses(
    { devices: [{ kind: "fs", path: "srv", tag: "t" }] },
    "BAD_DEVICE",
    "devices[0].path must be an absolute path",
  );
  refuses(
    {
      devices: [
        { kind: "fs", path: "/a", tag: "t" },
        { kind: "fs", path: "/b", tag: "t" },
      ],
    },
    "DUPLICATE_SHARE_TAG",
    "devices[1].tag 't' is already the tag of devices[0]: give each share its own tag",
  );
  assert.deepEqual(vmSpec({ nets: ["none"], shares: ["/srv/data:data,ro"] }).devices[0], {
    kind: "fs",
    path: "/srv/data",
    tag: "data",
    readOnly: true,
  });
  refuses({ console: "foo" }, "BAD_CONSOLE", "console must be one of ttyS0, hvc0 (got 'foo')");
  refuses({ irqchip: "apic" }, "BAD_IRQCHIP", "irqchip must be one of plic, aia (got 'apic')");
  assert.equal(vmSpec({ irqchip: "aia" }).irqchip, "aia");
  refuses(
    { name: "a b" },
    "BAD_VM_NAME",
    "name 'a b' is not valid: use letters, digits, '_', '.', '-' (at most 63, starting with a letter or digit)",
  );
  refuses(
    { devices: Array.from({ length: 9 }, (_, i) => ({ kind: "rng", name: `r${i}` })) },
    "TOO_MANY_DEVICES",
    "devices puts 9 devices on the virtio-mmio slots of the board, but at most 8 fit: move some to transport pci",
  );
});

test("duplicate device names, given or by default, are refused", () => {
  refuses(
    {
      devices: [
        { kind: "blk", path: "a" },
        { kind: "blk", path: "b", name: "vda" },
      ],
    },
    "DUPLICATE_DEVICE",
    "devices[1].name 'vda' is already the name of devices[0]: give each device its own name",
  );
  refuses(
    { devices: [{ kind: "rng" }, { kind: "balloon", name: "rng0" }] },
    "DUPLICATE_DEVICE",
    "devices[1].name 'rng0' is already the name of devices[0]: give each device its own name",
  );
  assert.equal(parseVmSpec({ devices: [{ kind: "rng" }, { kind: "rng" }] }).devices.length, 2);
});

test("a front end names the field its own way (the CLI by its flag)", () => {
  try {
    parseVmSpec({ memory: "lots" });
    assert.fail("accepted");
  } catch (e) {
    assert.ok(e instanceof FieldError);
    assert.equal(e.field, "memory");
    assert.equal(e.renamed("--memory").message, "--memory 'lots' is not a size: use e.g. 512M or 1G");
  }
});

test("z.toJSONSchema gives the spec's JSON Schema, with every device kind of the registry", () => {
  const js = z.toJSONSchema(VmSpecSchema, { io: "input" });
  assert.equal(js.type, "object");
  assert.deepEqual(Object.keys(js.properties ?? {}), [
    "name",
    "harts",
    "memory",
    "shareMemory",
    "boot",
    "console",
    "irqchip",
    "image",
    "transport",
    "devices",
  ]);
  assert.equal(js.additionalProperties, false);
  const devices = js.properties?.devices as { items: { oneOf: { properties: { kind: { const: string } } }[] } };
  assert.deepEqual(
    devices.items.oneOf.map((o) => o.properties.kind.const),
    Object.keys(DEVICE_KINDS),
  );
  assert.deepEqual(vmSpecJsonSchema(), js);
});

test("shareMemory: absent means the host's default, a boolean is kept, anything else is refused in one line", () => {
  assert.equal(parseVmSpec({}).shareMemory, undefined);
  assert.equal(parseVmSpec({ shareMemory: true }).shareMemory, true);
  assert.throws(
    () => parseVmSpec({ shareMemory: "yes" }),
    (e: unknown) =>
      e instanceof FieldError && e.code === "BAD_SHARE_MEMORY" && e.message === "shareMemory must be true or false",
  );
});

test("image: a name of the image cache, and its disk counts among the board's slots", () => {
  assert.equal(parseVmSpec({ image: "deb1" }).image, "deb1");
  assert.throws(
    () => parseVmSpec({ image: "../etc" }),
    (e: unknown) => e instanceof FieldError && e.code === "BAD_IMAGE" && e.field === "image",
  );
  const eight = Array.from({ length: 8 }, () => ({ kind: "rng" as const }));
  assert.throws(
    () => parseVmSpec({ image: "deb1", devices: eight.map((d, i) => ({ ...d, name: `r${i}` })) }),
    (e: unknown) => e instanceof FieldError && e.code === "TOO_MANY_DEVICES",
  );
});

test("transport: per VM and per device, recorded in the spec; PCI has room for more devices; bad values in one line", () => {
  const s = vmSpec({ transport: "pci", disks: ["a.img", "b.img,transport=mmio"], nets: ["none"] });
  assert.equal(s.transport, "pci");
  assert.deepEqual(
    s.devices.map((d) => d.transport),
    [undefined, "mmio", undefined, undefined, undefined],
  );
  assert.deepEqual(parseVmSpec(JSON.parse(JSON.stringify(s))), s);
  assert.equal(vmSpec({ disks: ["a.img,transport=pci,ro"] }).devices[0]?.transport, "pci");
  const nine = Array.from({ length: 9 }, (_, i) => ({ kind: "rng" as const, name: `r${i}` }));
  assert.equal(parseVmSpec({ transport: "pci", devices: nine }).devices.length, 9);
  refuses(
    { transport: "pci", devices: nine.map((d) => ({ ...d, transport: "mmio" })) },
    "TOO_MANY_DEVICES",
    "devices puts 9 devices on the virtio-mmio slots of the board, but at most 8 fit: move some to transport pci",
  );
  refuses({ transport: "usb" }, "BAD_TRANSPORT", "transport must be one of mmio, pci (got 'usb')");
  assert.throws(
    () => vmSpec({ disks: ["a.img,transport=isa"] }),
    (e: unknown) =>
      e instanceof CorralError &&
      e.code === "BAD_TRANSPORT" &&
      e.message === "--disk a.img,transport=isa: transport=isa is not a transport: use transport=mmio or transport=pci",
  );
});
