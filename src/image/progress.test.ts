import { test } from "node:test";
import assert from "node:assert/strict";
import { createProgress } from "./progress.js";

function sink(isTTY: boolean): {
  out: { write(s: string): void; isTTY: boolean; columns: number };
  text: () => string;
} {
  let text = "";
  return { out: { write: (s: string) => void (text += s), isTTY, columns: 100 }, text: () => text };
}

test("without a TTY: one plain line per 10%, ending at 100%", () => {
  const s = sink(false);
  const p = createProgress("dl", 114e6, s.out);
  for (let f = 0; f <= 1; f += 0.01) p.update(f);
  p.update(0.5); // going backwards prints nothing
  p.done();
  const lines = s.text().trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => /: (\d+)%/.exec(l)?.[1]),
    ["0", "10", "20", "30", "40", "50", "60", "70", "80", "90", "100"],
  );
  assert.equal(lines[lines.length - 1], "dl: 100% (114/114 MB)");
  assert.ok(!s.text().includes("\r"));
});

test("on a TTY: a bar redrawn in place with carriage returns, newline at the end", () => {
  const s = sink(true);
  const p = createProgress("dl", 2e6, s.out);
  p.update(0.25);
  p.done();
  const frames = s.text().split("\r").filter(Boolean);
  assert.equal(frames.length, 2);
  // Each frame ends with "erase to end of line" (ESC [ K) so a shorter frame leaves no residue.
  assert.match(frames[0] ?? "", /^dl \[#+\.+\]  25% 0\.5\/2\.0 MB\x1b\[K$/);
  assert.match(frames[1] ?? "", /^dl \[#+\] 100% 2\.0\/2\.0 MB\x1b\[K\n$/);
});
