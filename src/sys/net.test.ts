// loopbackUp: lo brought up in a real namespace (the ifreq layout is checked in layout.test.ts).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { CorralError } from "../errors.js";
import { loopbackUp } from "./net.js";

test("lo comes up in the target namespace, and this thread stays in its own", async () => {
  const own = readlinkSync("/proc/thread-self/ns/net");
  const child = spawn("unshare", ["--net", "--", "sleep", "60"], { stdio: "ignore" });
  const pid = child.pid ?? 0;
  try {
    while (readlinkSync(`/proc/${pid}/ns/net`) === own) await sleep(5);
    const flags = (): string[] =>
      (
        JSON.parse(
          spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "-j", "link", "show", "lo"], { encoding: "utf8" })
            .stdout,
        ) as Array<{ flags: string[] }>
      )[0]?.flags ?? [];
    assert.ok(!flags().includes("UP"), "a new namespace starts with lo down");
    loopbackUp(pid);
    assert.ok(flags().includes("UP"));
    assert.equal(readlinkSync("/proc/thread-self/ns/net"), own);
    assert.throws(
      () => loopbackUp(999999999),
      (e: unknown) => e instanceof CorralError && e.code === "NET_NO_PROCESS",
    );
  } finally {
    child.kill("SIGKILL");
  }
});
