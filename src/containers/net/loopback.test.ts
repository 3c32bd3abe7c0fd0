// loopbackUp: the ifreq layout against the C headers, and lo brought up in a real namespace.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { compileC } from "../../../tests/containers-lib/cc.js";
import { CorralError } from "../../errors.js";
import { CLONE_NEWNET, IFF_UP, IFREQ, SIOCGIFFLAGS, SIOCSIFFLAGS, loopbackUp } from "./loopback.js";

test("struct ifreq and the ioctl numbers match the C headers", () => {
  const p = compileC("ifreq-layout", `
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <sched.h>
#include <net/if.h>
#include <linux/sockios.h>
int main(void) {
  printf("%zu %d %zu %zu %d %d %d %d\\n", offsetof(struct ifreq, ifr_name), IFNAMSIZ, offsetof(struct ifreq, ifr_flags),
         sizeof(struct ifreq), SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, CLONE_NEWNET);
  return 0;
}`);
  try {
    const got = spawnSync(p.exe, { encoding: "utf8" }).stdout.trim().split(" ").map(Number);
    assert.deepEqual(got, [IFREQ.name, IFREQ.nameSize, IFREQ.flags, IFREQ.size, SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, CLONE_NEWNET]);
  } finally {
    p.cleanup();
  }
});

test("lo comes up in the target namespace, and this thread stays in its own", async () => {
  const own = readlinkSync("/proc/thread-self/ns/net");
  const child = spawn("unshare", ["--net", "--", "sleep", "60"], { stdio: "ignore" });
  const pid = child.pid ?? 0;
  try {
    while (readlinkSync(`/proc/${pid}/ns/net`) === own) await sleep(5);
    const flags = (): string[] =>
      (JSON.parse(spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "-j", "link", "show", "lo"], { encoding: "utf8" }).stdout) as Array<{ flags: string[] }>)[0]?.flags ?? [];
    assert.ok(!flags().includes("UP"), "a new namespace starts with lo down");
    loopbackUp(pid);
    assert.ok(flags().includes("UP"));
    assert.equal(readlinkSync("/proc/thread-self/ns/net"), own);
    assert.throws(() => loopbackUp(999999999), (e: unknown) => e instanceof CorralError && e.code === "NET_NO_PROCESS");
  } finally {
    child.kill("SIGKILL");
  }
});
