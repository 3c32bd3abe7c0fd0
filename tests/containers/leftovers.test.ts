import { strict as assert } from "node:assert";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Runtime } from "../../src/containers/runtime/runtime.js";
import { fixture, leftovers, type Fixture } from "./fixtures.js";

// "Nothing is left behind after any failure or after delete" (issue 4): a thousand cycles of
// create/delete, a quarter of them failing at different stages, then the host is counted.
let f: Fixture;
before(() => {
  f = fixture();
});
after(() => f.cleanup());

test("1000 create/delete cycles, failures included, leave no cgroup, mount, link or process", async () => {
  const rt = new Runtime({ root: join(f.dir, "state"), warn: () => undefined });
  const ok = f.bundle("ok", ["sleep", "30"]);
  const refused = f.bundle("refused", ["true"], (c) => {
    (c["linux"] as Record<string, unknown>)["resources"] = { cpu: { cpus: "64-70" } };
  });
  const noExe = f.bundle("noexe", ["/no/such/program"]);
  const before = leftovers();
  const failures: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const id = `cyc${i}`;
    try {
      switch (i % 4) {
        case 0:
          await rt.create(id, { bundle: ok, stdio: "ignore" });
          await rt.delete(id);
          break;
        case 1:
          await rt.run(id, { bundle: ok, stdio: "ignore" });
          await rt.delete(id, true);
          break;
        case 2:
          await rt.run(id, { bundle: refused, stdio: "ignore" });
          break;
        default:
          await rt.create(id, { bundle: noExe, stdio: "ignore" });
      }
    } catch (e) {
      const code = (e as { code?: string }).code ?? "?";
      failures[code] = (failures[code] ?? 0) + 1;
    }
  }
  assert.deepEqual(failures, { CGROUP_LIMIT_REFUSED: 250, OCI_CONTAINER_START_FAILED: 250 });
  assert.deepEqual(leftovers(), before);
  assert.deepEqual(readdirSync(rt.store.root), []);
});
