import { strict as assert } from "node:assert";
import { test } from "node:test";
import { MS } from "../linux/consts.js";
import { mountFlags, Plan } from "./plan.js";

test("mount options become flags, propagation and data as mount(8) reads them", () => {
  const r = mountFlags(["nosuid", "noexec", "nodev", "ro", "rprivate", "mode=755", "size=65536k"]);
  assert.equal(r.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
  assert.deepEqual(r.propagation, [MS.PRIVATE | MS.REC]);
  assert.deepEqual(r.data, ["mode=755", "size=65536k"]);
  assert.equal(mountFlags(["ro", "rw"]).flags & MS.RDONLY, 0, "a later option wins");
  assert.equal(mountFlags(["rbind"]).flags, MS.BIND | MS.REC);
});

test("plan values with a tab or newline are refused (the helper's field separators)", () => {
  assert.throws(() => new Plan().add("arg", "a\tb"), { code: "OCI_CONFIG_INVALID" });
  assert.equal(new Plan().add("arg", "x", 1).add("env", "A=b").toString(), "arg\tx\t1\nenv\tA=b");
});
