import { strict as assert } from "node:assert";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { detectLayout } from "../../src/containers/cgroups/index.js";
import { hostPageSizes } from "../../src/containers/cgroups/hugetlb.js";
import { Runtime } from "../../src/containers/runtime/runtime.js";
import { fixture, leftoversUnder, runCapture, type Fixture } from "./fixtures.js";

// OCI runtime spec conformance (issue 14 item 10), against the host kernel: what runc accepts or
// reports, Corral must too.
let f: Fixture;
let rt: Runtime;
const warnings: string[] = [];
const PREFIX = `oc${process.pid}-`;
const id = (name: string) => `${PREFIX}${name}`;
type Patch = (c: Record<string, unknown>) => void;
const linux = (c: Record<string, unknown>) => c["linux"] as Record<string, unknown>;
const proc = (c: Record<string, unknown>) => c["process"] as Record<string, unknown>;

before(() => {
  f = fixture();
  rt = new Runtime({ root: join(f.dir, "state"), warn: (m) => warnings.push(m) });
});
after(() => {
  const left = leftoversUnder(f.dir, PREFIX);
  if (left.mounts.length === 0) f.cleanup(); // never delete through a mount left behind
  assert.deepEqual(left, { mounts: [], cgroups: [], processes: [] }, "nothing left behind");
});

/** create must fail with this message, and leave no state, cgroup, mount or process. */
async function createFails(name: string, patch: Patch, message: RegExp): Promise<void> {
  await assert.rejects(
    rt.create(id(name), { bundle: f.bundle(name, ["true"], patch), stdio: "ignore" }),
    (e: Error) => {
      assert.match(e.message, message);
      assert.equal(e.message.includes("\n"), false, "one line");
      return true;
    },
  );
  assert.throws(() => rt.state(id(name)), { code: "OCI_NOT_FOUND" });
  assert.deepEqual(leftoversUnder(f.dir, PREFIX), { mounts: [], cgroups: [], processes: [] });
}

test("a FIFO in linux.devices (type p) is made with mknod and left out of the devices cgroup", async () => {
  const r = await runCapture(
    rt,
    id("fifo"),
    f.bundle("fifo", ["ls", "-l", "/dev/myfifo"], (c) => {
      linux(c)["devices"] = [{ type: "p", path: "/dev/myfifo", major: 0, minor: 0, fileMode: 0o640 }];
    }),
  );
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^prw-r-----/);
});

test("errors of the last set-up steps (chdir, capset) are reported by create, not lost after it", async () => {
  await createFails(
    "cwd",
    (c) => {
      proc(c)["cwd"] = "/bin/busybox";
    },
    /^container set-up failed: chdir \/bin\/busybox: Not a directory$/,
  );
  await createFails(
    "caps",
    (c) => {
      // An effective capability outside the permitted set: capset(2) refuses it with EPERM.
      proc(c)["capabilities"] = {
        bounding: ["CAP_KILL"],
        effective: ["CAP_KILL", "CAP_CHOWN"],
        permitted: ["CAP_KILL"],
      };
    },
    /^container set-up failed: capset: Operation not permitted$/,
  );
});

test("linux.mountLabel is ignored with a warning, as AppArmor and SELinux process labels are", async () => {
  warnings.length = 0;
  const r = await runCapture(
    rt,
    id("label"),
    f.bundle("label", ["true"], (c) => {
      linux(c)["mountLabel"] = "system_u:object_r:container_file_t:s0";
    }),
  );
  assert.equal(r.code, 0, r.out);
  assert.ok(
    warnings.some((w) => /^linux\.mountLabel 'system_u:object_r:container_file_t:s0' ignored: /.test(w)),
    warnings.join("; "),
  );
});

test("without a mount namespace the container shares the runtime's: chroot only, no mount is made", async () => {
  const before = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(f.dir)).length;
  const shared: Patch = (c) => {
    c["mounts"] = [];
    (c["root"] as Record<string, unknown>)["readonly"] = false;
    const l = linux(c);
    l["namespaces"] = (l["namespaces"] as { type: string }[]).filter((n) => n.type !== "mount");
    l["maskedPaths"] = [];
    l["readonlyPaths"] = [];
  };
  const c = await rt.run(id("nomnt"), { bundle: f.bundle("nomnt", ["sleep", "60"], shared), stdio: "ignore" });
  try {
    assert.equal(
      readlinkSync(`/proc/${c.pid}/ns/mnt`),
      readlinkSync("/proc/self/ns/mnt"),
      "the runtime's mount namespace",
    );
    assert.notEqual(
      readlinkSync(`/proc/${c.pid}/ns/pid`),
      readlinkSync("/proc/self/ns/pid"),
      "the listed namespaces are its own",
    );
    assert.equal(readlinkSync(`/proc/${c.pid}/root`), f.rootfs, "chrooted into the rootfs");
    assert.equal(
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter((l) => l.includes(f.dir)).length,
      before,
      "no mount made",
    );
  } finally {
    await rt.delete(id("nomnt"), true);
  }
  // What would change the host's mount table is refused, naming the field, as runc refuses masked paths.
  await createFails(
    "nomnt2",
    (cfg) => {
      const l = linux(cfg);
      l["namespaces"] = (l["namespaces"] as { type: string }[]).filter((n) => n.type !== "mount");
    },
    /^config\.json: mounts \(\/proc first\) would be mounted in the host's mount namespace, .*add \{"type": "mount"\} to linux\.namespaces or remove mounts$/,
  );
});

const resources =
  (r: Record<string, unknown>): Patch =>
  (c) => {
    linux(c)["resources"] = r;
  };

test("hugepageLimits go to the hugetlb controller (v1, or cgroup2 in the hybrid layout); a page size the host lacks is refused", async (t) => {
  const l = detectLayout();
  const where = l.v1.some((h) => h.controllers.includes("hugetlb"))
    ? "v1"
    : l.v2Controllers.includes("hugetlb")
      ? "v2"
      : undefined;
  const size = hostPageSizes()[0];
  if (!where || !size) {
    await createFails("huge0", resources({ hugepageLimits: [{ pageSize: "2MB", limit: 8 << 20 }] }), /hugepageLimits/);
    return t.skip(
      `this host has ${where ? "no huge page sizes" : "no hugetlb controller"}: only the refusal was checked`,
    );
  }
  const limit = 4 * (size.endsWith("GB") ? 1 << 30 : size.endsWith("MB") ? 1 << 20 : 1 << 10) * parseInt(size, 10);
  await rt.run(id("huge"), {
    bundle: f.bundle("huge", ["sleep", "60"], resources({ hugepageLimits: [{ pageSize: size, limit }] })),
    stdio: "ignore",
  });
  try {
    const dirs = rt.cgroup(id("huge")).dirs();
    const file =
      where === "v1"
        ? join(dirs.find((d) => d.includes("/hugetlb/")) ?? "", `hugetlb.${size}.limit_in_bytes`)
        : join(dirs.find((d) => l.v2 !== undefined && d.startsWith(l.v2)) ?? "", `hugetlb.${size}.max`);
    assert.equal(readFileSync(file, "utf8").trim(), String(limit));
  } finally {
    await rt.delete(id("huge"), true);
  }
  await createFails(
    "huge3",
    resources({ hugepageLimits: [{ pageSize: "3MB", limit }] }),
    /^linux\.resources\.hugepageLimits\[0\]\.pageSize: this host has no 3MB huge pages/,
  );
});

test("linux.resources.network goes to net_cls/net_prio where mounted, and is refused clearly where not", async (t) => {
  const l = detectLayout();
  const cls = l.v1.some((h) => h.controllers.includes("net_cls"));
  if (!cls) {
    await createFails(
      "netcls",
      resources({ network: { classID: 0x100001 } }),
      /^linux\.resources\.network\.classID: the host has no net_cls cgroup controller mounted; /,
    );
    return t.skip("this host mounts no net_cls hierarchy: only the refusal was checked");
  }
  await rt.run(id("netcls"), {
    bundle: f.bundle("netcls", ["sleep", "60"], resources({ network: { classID: 0x100001 } })),
    stdio: "ignore",
  });
  try {
    const d =
      rt
        .cgroup(id("netcls"))
        .dirs()
        .find((x) => x.includes("net_cls")) ?? "";
    assert.equal(readFileSync(join(d, "net_cls.classid"), "utf8").trim(), String(0x100001));
  } finally {
    await rt.delete(id("netcls"), true);
  }
});
