// Warm blocks compiled while the machine idles (idle-compile.ts), on the default guest booted in
// this process and driven through its agent as the daemon drives it: execs with the guest idle
// between them. With the idle compile off, no block compiles below the wasm tier's threshold; on,
// the blocks the execs run often compile between execs, compiled code then retires a larger share
// of each exec's instructions, and every exec's output stays what the guest's shell computes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sharedImage } from "../../image/testing.js";
import { composeVm, type Composed } from "../../vm/compose.js";
import { vmSpec } from "../../vm/options.js";
import { VirtioConsole } from "../../devices/virtio/console.js";
import { AgentChannel } from "../../vm/agent/channel.js";
import { AGENT_PORT_NAME } from "../../vm/agent/protocol.js";
import type { MachineExit } from "../../machine/machine.js";
import type { Block } from "./exec.js";

let vm: Composed;
let agent: AgentChannel;
let running: Promise<MachineExit>;

before(async () => {
  await sharedImage();
  vm = await composeVm(vmSpec({ name: "idle-compile", memory: "256M" }), { console: () => {}, forkable: false });
  const port = vm.devices
    .flatMap((d) => (d instanceof VirtioConsole ? [d.port(AGENT_PORT_NAME)] : []))
    .find((p) => p !== undefined);
  assert.ok(port, "the agent's port");
  agent = new AgentChannel(port, "idle-compile");
  running = vm.machine.run();
  await agent.whenReady();
  // As the daemon does once the guest has booted.
  await vm.machine.trimCode();
});

after(async () => {
  agent?.close("done");
  vm?.machine.stop();
  await running;
  vm?.machine.close();
});

const SCRIPT = "i=0; s=0; while [ $i -lt 40 ]; do i=$((i+1)); s=$((s+i*i)); done; echo $s";
const EXPECTED = "22140\n"; // the sum of the squares of 1 to 40

/** Run the script once; returns the share of its guest instructions retired in compiled wasm. */
async function execOnce(): Promise<number> {
  const m = vm.machine;
  const i0 = m.harts[0]!.instret;
  const w0 = m.cache.wasm!.retired;
  let out = "";
  const end = await agent.exec({ argv: ["sh", "-c", SCRIPT] }, (fd, d) => {
    if (fd === 1) out += d.toString();
  }).done;
  assert.equal(end.exitCode, 0);
  assert.equal(out, EXPECTED);
  // Idle between execs, as a VM serving requests does.
  await new Promise((r) => setTimeout(r, 20));
  return (m.cache.wasm!.retired - w0) / (m.harts[0]!.instret - i0);
}

/** Live blocks compiled although they ran fewer times than the wasm tier's threshold. */
function compiledBelowHot(): number {
  const cache = vm.machine.cache;
  let n = 0;
  for (const map of (cache as unknown as { pages: (Map<number, Block> | undefined)[] }).pages)
    if (map) for (const b of map.values()) if (!b.dead && b.wx >= 0 && b.hits < cache.hot) n++;
  return n;
}

test("warm blocks compile while the guest idles between execs, and the execs' output is unchanged", async () => {
  const cache = vm.machine.cache;
  assert.ok(cache.wasm, "the wasm tier");
  // Off (a machine's default): only blocks that reached the threshold are compiled.
  let before = 0;
  for (let i = 0; i < 15; i++) before = await execOnce();
  assert.equal(compiledBelowHot(), 0);
  assert.equal(cache.warm.compiled, 0);

  vm.machine.compileWhenIdle();
  // The blocks counted so far are past the mark: new execs bring others to it, and the idle
  // periods between execs compile them.
  for (let i = 0; i < 40 && cache.warm.compiled < 200; i++) await execOnce();
  for (let t = 0; t < 200 && cache.warmPending; t++) await new Promise((r) => setTimeout(r, 20));
  let afterShare = 0;
  for (let i = 0; i < 3; i++) afterShare = await execOnce();
  assert.ok(cache.warm.compiled > 0, "warm blocks were compiled");
  assert.ok(compiledBelowHot() > 0, "blocks below the threshold run compiled");
  assert.ok(
    afterShare > before,
    `compiled code's share of an exec: ${(100 * before).toFixed(0)} % before, ${(100 * afterShare).toFixed(0)} % after`,
  );
});
