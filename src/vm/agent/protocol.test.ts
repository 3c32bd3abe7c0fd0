import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import {
  LineSplitter,
  eofFrame,
  execFrame,
  execScript,
  parseAgentLine,
  resizeFrame,
  stdinFrames,
  OUTPUT_CHUNK,
  STDIN_CHUNK,
  STDIN_WINDOW,
} from "./protocol.js";

test("guest lines parse; malformed ones are ignored", () => {
  assert.deepEqual(parseAgentLine("H 1"), { kind: "hello", version: 1 });
  assert.deepEqual(parseAgentLine("A 7\r"), { kind: "ack", id: 7 });
  assert.deepEqual(parseAgentLine("C 4"), { kind: "credit", id: 4 });
  assert.deepEqual(parseAgentLine("R 3 137"), { kind: "exit", id: 3, status: 137 });
  assert.deepEqual(parseAgentLine(`O 2 2 ${Buffer.from("err\n").toString("base64")}`), {
    kind: "output",
    id: 2,
    fd: 2,
    data: Buffer.from("err\n"),
  });
  for (const bad of ["", "O 1 3 AAAA", "R x 1", "R 1", "Z 1", "[    1.0] virtio_console", "H"])
    assert.equal(parseAgentLine(bad), undefined, bad);
});

test("frames: one line each, no spaces inside fields; stdin split into chunks", () => {
  const f = execFrame(5, "exec echo 'a b'\n", true);
  assert.match(f, /^X 5 \S+ 1\n$/);
  assert.equal(f, "X 5 exec\\0040echo\\0040'a\\0040b'\\0012 1\n");
  assert.match(execFrame(6, "true\n", true, { rows: 33, cols: 101 }), /^X 6 \S+ 1 33 101\n$/);
  assert.match(execFrame(7, "true\n", false), /^X 7 \S+ 0\n$/);
  assert.equal(resizeFrame(6, { rows: 50, cols: 132 }), "W 6 50 132\n");
  assert.equal(eofFrame(5), "E 5\n");
  const data = Buffer.alloc(STDIN_CHUNK * 2 + 10, 0x41);
  const frames = stdinFrames(5, data);
  assert.equal(frames.length, 3);
  const back = Buffer.concat(
    frames.map((f) => {
      const nl = f.indexOf(0x0a);
      const [op, id, n] = f.subarray(0, nl).toString("latin1").split(" ");
      assert.deepEqual([op, id], ["I", "5"]);
      assert.equal(f.length - nl - 1, Number(n));
      return f.subarray(nl + 1);
    }),
  );
  assert.deepEqual(back, data);
  // An output line stays far below the 32 KiB Linux's virtio_console sends per write.
  assert.ok(Math.ceil(OUTPUT_CHUNK / 3) * 4 + 16 < 32 * 1024);
  // The chunks the host may have in flight fit in the feeder's 64 KiB pipe with the E line.
  assert.ok(STDIN_WINDOW * (STDIN_CHUNK + 16) + 16 <= 64 * 1024);
});

test("the exec script runs argv exactly, with env and cwd, under a real sh", () => {
  const argv = ["printf", "[%s]", "a b", "$HOME", "it's", "*", "", "x\ny"];
  const script = execScript(argv, { GREET: "hello world", Q: "'\"$" }, "/");
  const r = spawnSync(
    "sh",
    ["-c", script.replace(/exec printf/, 'printf "%s|%s|%s|" "$GREET" "$Q" "$(pwd)"; exec printf')],
    { encoding: "utf8" },
  );
  assert.equal(r.stdout, `hello world|'"$|/|[a b][$HOME][it's][*][][x\ny]`);
  const bad = spawnSync("sh", ["-c", execScript(["true"], {}, "/no/such/dir")]);
  assert.equal(bad.status, 126);
  assert.throws(() => execScript(["true"], { "A-B": "x" }), RangeError);
});

test("lines are reassembled across arbitrary chunk boundaries", () => {
  const got: string[] = [];
  const s = new LineSplitter((l) => got.push(l));
  const text = "H 1\nO 1 1 aGk=\nR 1 0\n";
  for (const ch of Buffer.from(text)) s.push(Uint8Array.of(ch));
  assert.deepEqual(got, ["H 1", "O 1 1 aGk=", "R 1 0"]);
});
