import { test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { isCorralError } from "../errors.js";
import { parseVsockSpec } from "./vsock-attach.js";

test("--vsock PATH[,cid=N]: the path made absolute, CID 3 unless given", () => {
  assert.deepEqual(parseVsockSpec("/run/vm.sock"), { path: "/run/vm.sock", guestCid: 3 });
  assert.deepEqual(parseVsockSpec("vm.sock,cid=42"), { path: resolve("vm.sock"), guestCid: 42 });
  assert.deepEqual(parseVsockSpec("v,cid=4294967294"), { path: resolve("v"), guestCid: 0xfffffffe });
  for (const bad of ["", ",cid=3", "v,cid=2", "v,cid=0", "v,cid=4294967295", "v,cid=-3", "v,cid=3x", "v,port=3"]) {
    assert.throws(
      () => parseVsockSpec(bad),
      (e) => isCorralError(e) && e.code === "BAD_VSOCK" && e.exitCode === 2,
      bad,
    );
  }
});
