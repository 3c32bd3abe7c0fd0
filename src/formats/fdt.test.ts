import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FDT_HEADER,
  FDT_HEADER_SIZE,
  FDT_MAGIC,
  decodeFdt,
  decodeFdtHeader,
  decodeFdtReservations,
  encodeFdt,
  u64Cells,
  type DtNode,
} from "./fdt.js";
import { isCorralError } from "../errors.js";

/** A tree shaped like the one Corral's machine describes, with every value kind. */
const sample: DtNode = {
  name: "",
  props: { "#address-cells": [2], "#size-cells": [2], compatible: "riscv-virtio", model: "corral,rv64" },
  children: [
    { name: "chosen", props: { bootargs: "console=ttyS0 quiet", "stdout-path": "/soc/serial@10000000" } },
    {
      name: "memory@80000000",
      props: { device_type: "memory", reg: [...u64Cells(0x8000_0000), ...u64Cells(512n << 20n)] },
    },
    {
      name: "cpus",
      props: { "#address-cells": [1], "#size-cells": [0], "timebase-frequency": [10_000_000] },
      children: [
        {
          name: "cpu@0",
          props: { device_type: "cpu", reg: [0], compatible: "riscv", "riscv,isa": "rv64imafdc", status: "okay" },
          children: [
            {
              name: "interrupt-controller",
              props: {
                "#interrupt-cells": [1],
                "interrupt-controller": null,
                compatible: "riscv,cpu-intc",
                phandle: [1],
              },
            },
          ],
        },
      ],
    },
    {
      name: "soc",
      props: { "#address-cells": [2], "#size-cells": [2], compatible: "simple-bus", ranges: null },
      children: [
        {
          name: "serial@10000000",
          props: {
            compatible: ["ns16550a", "ns16550"],
            reg: [0, 0x1000_0000, 0, 0x100],
            "clock-frequency": [3_686_400],
            "interrupts-extended": [1, 10],
          },
        },
        { name: "blob@0", props: { "odd-bytes": new Uint8Array([1, 2, 3]), "empty-list": [] } },
      ],
    },
  ],
};

/** The tree decodeFdt should give back: same values, as the decoder types them. */
const expected: DtNode = structuredClone(sample);
const blobNode = expected.children?.[3]?.children?.[1];
if (blobNode) blobNode.props["empty-list"] = null; // zero cells and an empty property are the same bytes

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "corral-fdt-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("header layout is the spec's ten big-endian u32 fields", () => {
  const offsets = Object.values(FDT_HEADER);
  assert.deepEqual(
    offsets,
    offsets.map((_, i) => i * 4),
  );
  assert.equal(FDT_HEADER_SIZE, offsets.length * 4);
});

test("u64Cells splits high cell first", () => {
  assert.deepEqual(u64Cells(0x1_2345_6789n), [1, 0x2345_6789]);
  assert.deepEqual(u64Cells(0x8000_0000), [0, 0x8000_0000]);
  assert.deepEqual(u64Cells(0xffff_ffff_ffff_ffffn), [0xffff_ffff, 0xffff_ffff]);
  assert.throws(
    () => u64Cells(-1),
    (e) => isCorralError(e) && e.code === "FDT_BAD_VALUE",
  );
});

test("encode then decode gives the tree back; header fields are consistent", () => {
  const blob = encodeFdt(sample, { bootCpuId: 3, reservations: [{ address: 0x8000_0000n, size: 0x20_0000n }] });
  assert.deepEqual(decodeFdt(blob), expected);
  const h = decodeFdtHeader(blob);
  assert.equal(new DataView(blob.buffer).getUint32(0), FDT_MAGIC);
  assert.equal(h.totalsize, blob.length);
  assert.equal(h.version, 17);
  assert.equal(h.lastCompVersion, 16);
  assert.equal(h.bootCpuId, 3);
  assert.equal(h.offMemRsvmap % 8, 0);
  assert.equal(h.offStruct % 4, 0);
  assert.deepEqual(decodeFdtReservations(blob), [{ address: 0x8000_0000n, size: 0x20_0000n }]);
  // Strings are de-duplicated: "#address-cells" is used three times but stored once.
  const strings = Buffer.from(blob.subarray(h.offStrings, h.offStrings + h.sizeStrings)).toString("latin1");
  assert.equal(strings.split("\0").filter((s) => s === "#address-cells").length, 1);
});

test("decodes a blob compiled by the real dtc", () => {
  withTmp((dir) => {
    writeFileSync(
      join(dir, "t.dts"),
      `/dts-v1/;
/memreserve/ 0x80000000 0x200000;
/ {
  #address-cells = <2>; #size-cells = <2>; compatible = "riscv-virtio"; model = "corral,rv64";
  chosen { bootargs = "console=ttyS0 quiet"; stdout-path = "/soc/serial@10000000"; };
  memory@80000000 { device_type = "memory"; reg = <0x0 0x80000000 0x0 0x20000000>; };
  cpus {
    #address-cells = <1>; #size-cells = <0>; timebase-frequency = <10000000>;
    cpu@0 {
      device_type = "cpu"; reg = <0>; compatible = "riscv"; riscv,isa = "rv64imafdc"; status = "okay";
      interrupt-controller { #interrupt-cells = <1>; interrupt-controller; compatible = "riscv,cpu-intc"; phandle = <1>; };
    };
  };
  soc {
    #address-cells = <2>; #size-cells = <2>; compatible = "simple-bus"; ranges;
    serial@10000000 { compatible = "ns16550a", "ns16550"; reg = <0 0x10000000 0 0x100>; clock-frequency = <3686400>; interrupts-extended = <1 10>; };
    blob@0 { odd-bytes = [01 02 03]; empty-list; };
  };
};
`,
    );
    execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", "-b", "3", "-o", join(dir, "t.dtb"), join(dir, "t.dts")]);
    const blob = new Uint8Array(readFileSync(join(dir, "t.dtb")));
    assert.deepEqual(decodeFdt(blob), expected);
    assert.equal(decodeFdtHeader(blob).bootCpuId, 3);
    assert.deepEqual(decodeFdtReservations(blob), [{ address: 0x8000_0000n, size: 0x20_0000n }]);
  });
});

test("dtc accepts our blob and prints the same tree", () => {
  withTmp((dir) => {
    writeFileSync(join(dir, "ours.dtb"), encodeFdt(sample, { bootCpuId: 2 }));
    // -I dtb -O dts: dtc validates the header, tokens and string offsets while printing.
    const dts = execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dts", join(dir, "ours.dtb")], { encoding: "utf8" });
    assert.match(dts, /^\/dts-v1\/;/m);
    assert.match(dts, /bootargs = "console=ttyS0 quiet";/);
    assert.match(dts, /memory@80000000 \{[^}]*reg = <0x00 0x80000000 0x00 0x20000000>;/);
    assert.match(dts, /compatible = "ns16550a\\0ns16550";/);
    assert.match(dts, /interrupt-controller;/);
    assert.match(dts, /odd-bytes = \[01 02 03\];/);
    assert.match(dts, /ranges;/);
    // fdtdump (same package) prints the header fields as dtc sees them.
    const dump = execFileSync("fdtdump", [join(dir, "ours.dtb")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    assert.match(dump, /\/\/ version:\s+17$/m);
    assert.match(dump, /\/\/ last_comp_version:\s+16$/m);
    assert.match(dump, /\/\/ boot_cpuid_phys:\s+0x2$/m);
    // And dtc's own re-encoding of our blob decodes to the same tree.
    execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dtb", "-o", join(dir, "again.dtb"), join(dir, "ours.dtb")]);
    assert.deepEqual(decodeFdt(new Uint8Array(readFileSync(join(dir, "again.dtb")))), expected);
  });
});

test("rejects broken blobs with FDT_BAD_BLOB", () => {
  const blob = encodeFdt(sample);
  const isBad = (e: unknown): boolean => isCorralError(e) && e.code === "FDT_BAD_BLOB";
  assert.throws(() => decodeFdt(blob.subarray(0, 20)), isBad);
  assert.throws(() => decodeFdt(blob.subarray(0, blob.length - 8)), isBad);
  const wrongMagic = blob.slice();
  wrongMagic[0] = 0;
  assert.throws(() => decodeFdt(wrongMagic), isBad);
  const badToken = blob.slice();
  new DataView(badToken.buffer).setUint32(decodeFdtHeader(blob).offStruct, 7);
  assert.throws(() => decodeFdt(badToken), isBad);
});

test("rejects values that are not u32 cells", () => {
  const isBadValue = (e: unknown): boolean => isCorralError(e) && e.code === "FDT_BAD_VALUE";
  assert.throws(() => encodeFdt({ name: "", props: { x: [2 ** 32] } }), isBadValue);
  assert.throws(() => encodeFdt({ name: "", props: { x: [1.5] } }), isBadValue);
  assert.throws(() => encodeFdt({ name: "", props: { x: "a\0b" } }), isBadValue);
});
