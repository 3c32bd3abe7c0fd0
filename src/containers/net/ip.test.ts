// How `ip`'s messages map to codes: the real `ip` for what can be produced on demand, and the
// kernel's ENODEV text ("No such device") that `ip link del` prints when a veth vanishes between
// lookup and deletion (its peer's namespace died with the container's last process) and that
// cleanup must take as "already gone" (seen once as a failed container teardown in the suite).
import assert from "node:assert/strict";
import { test } from "node:test";
import { classify, ip, IpError } from "./ip.js";

test("a link that does not exist is NET_DEVICE_MISSING, from the real ip and from ENODEV's text", async () => {
  await assert.rejects(
    ip("host", ["link", "del", "corral-no-such0"]),
    (e: unknown) => e instanceof IpError && e.code === "NET_DEVICE_MISSING",
  );
  assert.equal(classify("RTNETLINK answers: No such device\n"), "NET_DEVICE_MISSING");
  assert.equal(classify("Error: Unknown device type.\n"), "NET_DRIVER_MISSING");
  assert.equal(classify("RTNETLINK answers: File exists\n"), "NET_EXISTS");
});
