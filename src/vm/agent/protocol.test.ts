import assert from "node:assert/strict";
import { test } from "node:test";
import {
  LineSplitter,
  eofFrame,
  execFrame,
  identityFrame,
  parseAgentLine,
  resizeFrame,
  stdinFrames,
  AGENT_MAX_LINE,
  OUTPUT_CHUNK,
  STDIN_CHUNK,
  STDIN_WINDOW,
  HOSTNAME_MAX,
} from "./protocol.js";

/** The strings an X frame carries, decoded as the agent reads them. */
function request(frame: string): { head: string[]; strings: string[] } {
  const f = frame.trimEnd().split(" ");
  assert.equal(f.length, 8, frame);
  const strings = Buffer.from(f[7]!, "base64").toString("utf8").split("\0");
  assert.equal(strings.pop(), "", "every string ends with NUL");
  return { head: f.slice(0, 7), strings };
}

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
  const argv = ["printf", "[%s]", "a b", "$HOME", "it's", "*", "", "x\ny", "ünï"];
  const f = execFrame(5, { argv, env: { GREET: "hello world", Q: "=x" }, cwd: "/tmp" }, true);
  assert.match(f, /^X 5 1 0 0 2 9 [A-Za-z0-9+/=]+\n$/);
  assert.deepEqual(request(f), {
    head: ["X", "5", "1", "0", "0", "2", "9"],
    strings: ["/tmp", "GREET=hello world", "Q==x", ...argv],
  });
  const t = execFrame(6, { argv: ["true"] }, true, { rows: 33, cols: 101 });
  assert.deepEqual(request(t), { head: ["X", "6", "1", "33", "101", "0", "1"], strings: ["", "true"] });
  assert.deepEqual(request(execFrame(7, { argv: ["true"] }, false)).head, ["X", "7", "0", "0", "0", "0", "1"]);
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

test("requests no X frame can carry are refused with BAD_EXEC", () => {
  for (const cmd of [
    { argv: [] },
    { argv: ["true"], env: { "A-B": "x" } },
    { argv: ["true"], env: { "": "x" } },
    { argv: ["echo", "a\0b"] },
    { argv: ["true"], env: { A: "\0" } },
    { argv: ["true"], cwd: "/a\0" },
    { argv: ["echo", "x".repeat(AGENT_MAX_LINE)] },
  ])
    assert.throws(() => execFrame(1, cmd, false), { code: "BAD_EXEC" }, JSON.stringify(cmd).slice(0, 80));
  // Just below the limit still goes.
  assert.ok(
    execFrame(1, { argv: ["echo", "x".repeat((AGENT_MAX_LINE / 4) * 3 - 100)] }, false).length <= AGENT_MAX_LINE,
  );
});

test("lines are reassembled across arbitrary chunk boundaries", () => {
  const got: string[] = [];
  const s = new LineSplitter((l) => got.push(l));
  const text = "H 1\nO 1 1 aGk=\nR 1 0\n";
  for (const ch of Buffer.from(text)) s.push(Uint8Array.of(ch));
  assert.deepEqual(got, ["H 1", "O 1 1 aGk=", "R 1 0"]);
});

test("T frames: the clock in seconds and nanoseconds, the hostname in base64 or '-'; the agent's answer parses", () => {
  assert.equal(identityFrame(9, { epochMs: 1_700_000_000_123.456 }), "T 9 1700000000 123456000 -\n");
  const f = identityFrame(10, { epochMs: 0, hostname: "web-1a2b3c" }).trimEnd().split(" ");
  assert.deepEqual(f.slice(0, 4), ["T", "10", "0", "0"]);
  assert.equal(Buffer.from(f[4]!, "base64").toString(), "web-1a2b3c");
  // The longest name Linux takes fits; one byte more, an empty one or a NUL is refused here.
  assert.doesNotThrow(() => identityFrame(1, { epochMs: 0, hostname: "h".repeat(HOSTNAME_MAX) }));
  for (const bad of ["h".repeat(HOSTNAME_MAX + 1), "", "a\0b"])
    assert.throws(() => identityFrame(1, { epochMs: 0, hostname: bad }), { code: "BAD_HOSTNAME" });
  assert.deepEqual(parseAgentLine("T 9 0"), { kind: "identity", id: 9, errno: 0 });
  assert.deepEqual(parseAgentLine("T 9 22"), { kind: "identity", id: 9, errno: 22 });
  for (const bad of ["T 9", "T x 0", "T 9 -1"]) assert.equal(parseAgentLine(bad), undefined, bad);
});
