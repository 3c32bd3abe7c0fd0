import { strict as assert } from "node:assert";
import { test } from "node:test";
import { encodeFrame, FRAME, FrameReader, nulList, TO_CLIENT, TO_SERVER, u32 } from "./protocol.js";

test("a frame is a type byte, a little-endian u32 length, the payload (as native/corral-oci.c reads it)", () => {
  assert.equal(FRAME.headerSize, FRAME.lengthOffset + 4);
  const f = encodeFrame(TO_CLIENT.EXIT, u32(258));
  assert.equal(f.length, FRAME.headerSize + 4);
  assert.equal(f[FRAME.typeOffset], "X".charCodeAt(0));
  assert.deepEqual([...f.subarray(FRAME.lengthOffset, FRAME.headerSize)], [4, 0, 0, 0]);
  assert.deepEqual([...f.subarray(FRAME.headerSize)], [2, 1, 0, 0]);
});

test("the reader reassembles frames split anywhere and keeps their order", () => {
  const bytes = Buffer.concat([
    encodeFrame(TO_SERVER.ARGS, "run\0--bundle\0b\0id\0"),
    encodeFrame(TO_SERVER.GO),
    encodeFrame(TO_SERVER.STATUS, "pid 42"),
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const got = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
    assert.deepEqual(
      got.map((g) => g.type),
      ["A", "G", "S"],
    );
    assert.deepEqual(nulList(got[0]?.payload ?? Buffer.alloc(0)), ["run", "--bundle", "b", "id"]);
    assert.equal(got[2]?.payload.toString(), "pid 42");
  }
});

test("a frame longer than the limit is refused", () => {
  const head = Buffer.alloc(FRAME.headerSize);
  head.write("O", 0, "latin1");
  head.writeUInt32LE(FRAME.maxPayload + 1, FRAME.lengthOffset);
  assert.throws(() => new FrameReader().push(head), /exceeds/);
});
