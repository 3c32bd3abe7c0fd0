import { test } from "node:test";
import assert from "node:assert/strict";
import type { VirtioDevice, VirtioDeviceContext } from "../device.js";
import { fuzzDevice } from "./fuzz.js";

/** A device with a configurable bug, to show the harness catches each kind of misbehaviour. */
function buggy(bug: "writes-readable" | "drops-requests" | "throws"): VirtioDevice {
  let ctx: VirtioDeviceContext | undefined;
  return {
    name: "buggy",
    deviceId: 99,
    features: 0n,
    queueMaxSizes: [16],
    configSize: 0,
    readConfig: () => 0,
    writeConfig: () => {},
    activate: (c) => void (ctx = c),
    notify: (i) => {
      const vq = ctx!.queue(i)!;
      for (let c = vq.pop(); c; c = vq.pop()) {
        const r = c.readable.find((s) => s.len > 0);
        if (bug === "writes-readable" && r) ctx!.memory.writeU8(r.addr, ctx!.memory.readU8(r.addr) ^ 0xff);
        if (bug === "throws") throw new Error("bug");
        if (bug !== "drops-requests") vq.push(c.head, 0);
      }
    },
    reset: () => void (ctx = undefined),
    close: () => {},
  };
}

test("the fuzz harness catches a device writing outside writable buffers", () => {
  assert.throws(
    () => fuzzDevice({ device: buggy("writes-readable"), queues: [0] }, 1, 300),
    /outside the chain's buffers/,
  );
});

test("the fuzz harness catches a device that silently drops requests", () => {
  assert.throws(
    () => fuzzDevice({ device: buggy("drops-requests"), queues: [0] }, 2, 300),
    /completed, no DEVICE_NEEDS_RESET/,
  );
});

test("a device that throws is contained by the transport (DEVICE_NEEDS_RESET)", () => {
  const r = fuzzDevice({ device: buggy("throws"), queues: [0] }, 3, 300);
  // Completed cases are those where every chain was malformed, so the device never ran.
  assert.ok(r.needsReset > r.completed);
  assert.equal(r.needsReset + r.completed, 300);
});
