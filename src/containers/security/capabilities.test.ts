// Capability names, numbers and masks; checked against the host's C headers and `runc spec`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { compileC } from "../../../tests/containers-lib/cc.js";
import { CorralError } from "../../errors.js";
import {
  CAPABILITIES,
  CAPABILITY_NAMES,
  RUNC_DEFAULT_CAPABILITY_SPEC,
  capabilityNames,
  capabilitySets,
} from "./capabilities.js";

test("the capability table matches linux/capability.h", () => {
  const lines = CAPABILITY_NAMES.map((n) => `printf("%s %d\\n", "${n}", ${n});`).join("\n");
  const prog = compileC(
    "cap-numbers",
    `#include <stdio.h>\n#include <linux/capability.h>\nint main(void){\n${lines}\nprintf("LAST %d\\n", CAP_LAST_CAP);\nreturn 0;}\n`,
  );
  try {
    const out = spawnSync(prog.exe, { encoding: "utf8" })
      .stdout.trim()
      .split("\n")
      .map((l) => l.split(" "));
    for (const [name, nr] of out) {
      if (name === "LAST")
        assert.ok(Number(nr) <= CAPABILITY_NAMES.length - 1, "the table covers CAP_LAST_CAP of the headers");
      else assert.equal((CAPABILITIES as Record<string, number>)[name ?? ""], Number(nr), name);
    }
  } finally {
    prog.cleanup();
  }
});

test("RUNC_DEFAULT_CAPABILITY_SPEC is what `runc spec` writes", (t) => {
  if (spawnSync("runc", ["--version"]).status !== 0) return void t.skip("runc is not installed");
  const dir = mkdtempSync(join(tmpdir(), "corral-runc-spec-"));
  try {
    assert.equal(spawnSync("runc", ["spec"], { cwd: dir }).status, 0);
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { process: { capabilities: unknown } };
    assert.deepEqual(cfg.process.capabilities, JSON.parse(JSON.stringify(RUNC_DEFAULT_CAPABILITY_SPEC)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("masks have bit N set for capability N; absent sets are empty", () => {
  const s = capabilitySets(
    { bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"], effective: ["CAP_KILL"] },
    { lastCap: 40 },
  );
  assert.equal(s.bounding, (1n << 0n) | (1n << 5n) | (1n << 40n));
  assert.equal(s.effective, 1n << 5n);
  assert.equal(s.permitted | s.inheritable | s.ambient, 0n);
  assert.deepEqual(capabilityNames(s.bounding), ["CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"]);
  assert.deepEqual(capabilitySets(undefined), {
    bounding: 0n,
    effective: 0n,
    permitted: 0n,
    inheritable: 0n,
    ambient: 0n,
  });
});

test("an unknown capability is refused, naming the field and the value", () => {
  assert.throws(
    () => capabilitySets({ bounding: ["CAP_CHOWN"], ambient: ["CAP_KILL", "CAP_FLY"] }),
    (e: unknown) =>
      e instanceof CorralError &&
      e.code === "CAPABILITY_UNKNOWN" &&
      /^process\.capabilities\.ambient\[1\]: unknown capability 'CAP_FLY'/.test(e.message),
  );
  assert.throws(
    () => capabilitySets({ bounding: "CAP_CHOWN" }),
    (e: unknown) =>
      e instanceof CorralError &&
      e.code === "CAPABILITY_INVALID" &&
      e.message.startsWith("process.capabilities.bounding:"),
  );
  assert.throws(
    () => capabilitySets({ effective: [5] }),
    (e: unknown) =>
      e instanceof CorralError &&
      e.code === "CAPABILITY_INVALID" &&
      e.message.startsWith("process.capabilities.effective[0]:"),
  );
});

test("a capability newer than the kernel is left out with a warning", () => {
  const warnings: string[] = [];
  const s = capabilitySets(
    { bounding: ["CAP_BPF", "CAP_CHECKPOINT_RESTORE"] },
    { lastCap: 39, warn: (m) => warnings.push(m) },
  );
  assert.equal(s.bounding, 1n << 39n);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? "", /bounding\[1\]: CAP_CHECKPOINT_RESTORE is not supported by this kernel/);
});
