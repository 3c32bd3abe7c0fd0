import { strict as assert } from "node:assert";
import { test } from "node:test";
import { defaultConfig } from "./defaults.js";
import { parseSpec } from "./validate.js";

// config.json validation names the field it rejects (issue 4, "Bad input and faults").
const withPatch = (patch: (c: Record<string, unknown>) => void) => {
  const c = defaultConfig(["true"]);
  patch(c);
  return c;
};

test("runc's default config is accepted as is", () => {
  const s = parseSpec(defaultConfig(["sh"]));
  assert.deepEqual(s.process?.args, ["sh"]);
  assert.equal(s.linux.namespaces.length, 6);
  assert.equal(s.mounts[0]?.destination, "/proc");
});

const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
  [
    "ociVersion",
    (c) => {
      c["ociVersion"] = "2.0.0";
    },
    /ociVersion must be a 1\.x version/,
  ],
  [
    "process.args",
    (c) => {
      (c["process"] as Record<string, unknown>)["args"] = [];
    },
    /process\.args must name the program/,
  ],
  [
    "process.cwd",
    (c) => {
      (c["process"] as Record<string, unknown>)["cwd"] = "relative";
    },
    /process\.cwd must be an absolute path/,
  ],
  [
    "process.env",
    (c) => {
      (c["process"] as Record<string, unknown>)["env"] = ["NOEQUALS"];
    },
    /process\.env\[0\] must be NAME=value/,
  ],
  [
    "rlimit type",
    (c) => {
      (c["process"] as Record<string, unknown>)["rlimits"] = [{ type: "RLIMIT_FOO", soft: 1, hard: 1 }];
    },
    /process\.rlimits\[0\]\.type is not a known rlimit/,
  ],
  [
    "mount destination",
    (c) => {
      (c["mounts"] as unknown[]).push({ destination: "rel", type: "tmpfs" });
    },
    /mounts\[7\]\.destination must be an absolute path/,
  ],
  [
    "namespace type",
    (c) => {
      ((c["linux"] as Record<string, unknown>)["namespaces"] as unknown[]).push({ type: "bogus" });
    },
    /linux\.namespaces\[6\]\.type is not a namespace type/,
  ],
  [
    "duplicate namespace",
    (c) => {
      ((c["linux"] as Record<string, unknown>)["namespaces"] as unknown[]).push({ type: "pid" });
    },
    /repeats the pid namespace/,
  ],
  [
    "memory limit",
    (c) => {
      (c["linux"] as Record<string, unknown>)["resources"] = { memory: { limit: "1G" } };
    },
    /linux\.resources\.memory\.limit must be an integer/,
  ],
  [
    "uid maps without userns",
    (c) => {
      (c["linux"] as Record<string, unknown>)["uidMappings"] = [{ containerID: 0, hostID: 1000, size: 1 }];
    },
    /needs a user namespace/,
  ],
  [
    "propagation",
    (c) => {
      (c["linux"] as Record<string, unknown>)["rootfsPropagation"] = "sideways";
    },
    /linux\.rootfsPropagation is not a propagation mode/,
  ],
  [
    "oomScoreAdj",
    (c) => {
      (c["process"] as Record<string, unknown>)["oomScoreAdj"] = 5000;
    },
    /process\.oomScoreAdj must be between -1000 and 1000/,
  ],
];

for (const [name, patch, message] of cases) {
  test(`an invalid ${name} is refused, naming the field`, () => {
    assert.throws(
      () => parseSpec(withPatch(patch)),
      (e: Error & { code?: string }) => e.code === "OCI_CONFIG_INVALID" && message.test(e.message),
    );
  });
}

test("a sysctl is accepted only in a namespace of the container's own (runc's rule): never the host's", () => {
  const sysctl = (kv: Record<string, string>, drop?: string) =>
    withPatch((c) => {
      const l = c["linux"] as Record<string, unknown>;
      l["sysctl"] = kv;
      if (drop) l["namespaces"] = (l["namespaces"] as { type: string }[]).filter((n) => n.type !== drop);
    });
  assert.deepEqual(
    parseSpec(sysctl({ "net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20" })).linux.sysctl[
      "kernel.shmmax"
    ],
    "1000",
  );
  assert.throws(
    () => parseSpec(sysctl({ "net.ipv4.ip_forward": "1" }, "network")),
    /linux\.sysctl\.net\.ipv4\.ip_forward belongs to the network namespace, which the container shares with the host/,
  );
  assert.throws(
    () => parseSpec(sysctl({ "kernel/sem": "1 2 3 4" }, "ipc")),
    /linux\.sysctl\.kernel\/sem belongs to the ipc namespace/,
  );
  assert.throws(
    () => parseSpec(sysctl({ "vm.swappiness": "0" })),
    /linux\.sysctl\.vm\.swappiness belongs to no namespace: setting it would change the host/,
  );
  assert.throws(
    () => parseSpec(sysctl({ "net/../../x": "0" })),
    /linux\.sysctl\.net\/\.\.\/\.\.\/x is not a sysctl name/,
  );
});
