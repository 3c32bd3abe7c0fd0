// The persistent block profile (src/cpu/engine/profile.ts) on a real boot: Debian's kernel (the
// default image) booted twice to run one command, the second time with the profile the first
// left. The second interprets fewer guest instructions (its hot blocks compile on their first
// run) and the command's output is the same. Two boots: tens of seconds each.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CommandConsole, concatArchives, DEFAULT_CMDLINE } from "../src/api/guest-command.js";
import { PROFILE_ENV } from "../src/cpu/engine/profile.js";
import { commandArchive } from "../src/image/initramfs.js";
import { ensureDefaultImage } from "../src/image/pull.js";
import { composeVm } from "../src/vm/compose.js";
import { parseVmSpec } from "../src/vm/spec.js";

const CMD = "sha256sum /bin/busybox; ls /bin | head -20; echo $((6*7))";

/** Boot, run CMD, power off: its output and the guest instructions retired, and interpreted. */
async function boot(): Promise<{ output: string; status: number | null; retired: number; interpreted: number }> {
  const img = await ensureDefaultImage();
  let output = "";
  const con = new CommandConsole((t) => (output += t));
  const spec = parseVmSpec({
    harts: 1,
    memory: 512 * 2 ** 20,
    boot: { kernel: img.kernel, initrd: img.initramfs },
    devices: [],
  });
  const { machine: m } = await composeVm(spec, {
    console: (b) => con.write(b),
    initrdAppend: (initrd) => concatArchives(initrd, commandArchive(CMD)),
    defaultCmdline: () => DEFAULT_CMDLINE,
  });
  try {
    await m.run();
  } finally {
    con.flush();
    m.close();
  }
  const wasm = m.cache.wasm;
  assert.ok(wasm !== null, "the wasm tier runs the default guest");
  return { output, status: con.status, retired: m.retired, interpreted: m.retired - wasm.retired };
}

test("a boot with the profile of an earlier boot interprets less, with the same output", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "corral-block-profile-"));
  const before = process.env[PROFILE_ENV];
  process.env[PROFILE_ENV] = dir;
  try {
    const first = await boot();
    assert.equal(first.status, 0, first.output);
    assert.match(first.output, /^42$/m);
    const files = readdirSync(dir);
    assert.equal(files.length, 1, "one profile, named by the kernel's hash");
    assert.match(files[0]!, /^[0-9a-f]{64}\.prof$/);

    const second = await boot();
    t.diagnostic(
      `interpreted ${first.interpreted} of ${first.retired} without the profile, ${second.interpreted} of ${second.retired} with it`,
    );
    assert.equal(second.status, 0, second.output);
    assert.equal(second.output, first.output, "the same guest output");
    assert.ok(
      second.interpreted < first.interpreted * 0.9,
      `interpreted ${second.interpreted} with the profile against ${first.interpreted} without (of ${second.retired} and ${first.retired})`,
    );
  } finally {
    if (before === undefined) delete process.env[PROFILE_ENV];
    else process.env[PROFILE_ENV] = before;
    rmSync(dir, { recursive: true, force: true });
  }
});
