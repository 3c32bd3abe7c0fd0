// The persistent block profile (profile.ts): its file round-trips; a damaged, truncated, foreign or
// oversized file is ignored and then replaced; a block the profile names is due for compilation on
// its first run only while its instruction words are the ones recorded. The boot with a real
// kernel is in tests/block-profile.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { I, J } from "../isa/encode.testkit.js";
import { runHart, type Block } from "./exec.js";
import {
  blockHash,
  BlockProfile,
  decodeProfile,
  encodeProfile,
  MAX_ENTRIES,
  profileDir,
  PROFILE_MAGIC,
  readProfile,
  type ProfileEntry,
} from "./profile.js";

const CODE = 0x1000;

/** A machine whose hart is at a two-instruction loop at RAM offset CODE: x10 += `step`, jump back. */
function looping(step: number): Machine {
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  const v = m.ram.view;
  v.setInt32(CODE, I(step, 10, 0, 10, 0x13), true); // ADDI x10, x10, step
  v.setInt32(CODE + 4, J(-4, 0), true); // JAL x0, -4
  h.pc = RAM_BASE + CODE;
  h.openPmp();
  return m;
}

function withDir<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "corral-profile-test-"));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a profile file round-trips", () => {
  const entries: ProfileEntry[] = [
    { off: 0x200000, hash: 0xdeadbeef, score: 10_000 },
    { off: 0x3ffffffe, hash: 0, score: 200 },
    { off: 0, hash: 0xffffffff, score: 0xffffffff },
  ];
  assert.deepEqual(decodeProfile(encodeProfile(entries)), entries);
  assert.deepEqual(decodeProfile(encodeProfile([])), []);
  withDir((dir) => {
    const path = join(dir, "k.prof");
    const p = new BlockProfile(entries, 5000, path);
    p.save(looping(1).cache);
    // Written back with earlier runs' scores halved (nothing ran in this one).
    assert.deepEqual(
      readProfile(path),
      entries.map((e) => ({ ...e, score: e.score >>> 1 })),
    );
  });
});

test("a damaged, truncated, foreign or oversized file is ignored, and replaced when written", () => {
  withDir((dir) => {
    const path = join(dir, "k.prof");
    const good = encodeProfile([
      { off: 0x1000, hash: 1, score: 9000 },
      { off: 0x2000, hash: 2, score: 9000 },
    ]);
    assert.equal(readProfile(join(dir, "missing.prof")).length, 0);
    const cases: [string, Uint8Array][] = [
      ["a flipped bit", good.map((b, i) => (i === 20 ? b ^ 1 : b))],
      ["truncated", good.subarray(0, good.length - 5)],
      ["empty", new Uint8Array(0)],
      ["another format's magic", good.map((b, i) => (i === 7 ? b + 1 : b))],
      [
        "a count past the cap",
        (() => {
          const b = good.slice();
          new DataView(b.buffer).setUint32(8, MAX_ENTRIES + 1, true);
          return b;
        })(),
      ],
    ];
    for (const [what, bytes] of cases) {
      writeFileSync(path, bytes);
      assert.deepEqual(readProfile(path), [], what);
    }
    // Larger than any profile may be: not even read.
    writeFileSync(path, PROFILE_MAGIC);
    truncateSync(path, 16 * MAX_ENTRIES + 1024);
    assert.deepEqual(readProfile(path), []);
    // Replaced by a good file at the next write.
    const p = new BlockProfile(readProfile(path), 5000, path);
    const m = looping(1);
    runHart(m.harts[0]!, m.cache, 20_000);
    p.save(m.cache);
    const after = decodeProfile(new Uint8Array(readFileSync(path)));
    assert.ok(after !== null && after.length === 1, "a valid file with the warm loop block");
    assert.equal(after[0]!.off, CODE);
  });
});

test("a block the profile names compiles on its first run, unless its instruction words changed", () => {
  const recorded = looping(1);
  const b: Block = recorded.cache.lookup(recorded.harts[0]!);
  const entries = [{ off: CODE, hash: blockHash(b.raws, b.n), score: 10_000 }];

  const same = looping(1);
  same.cache.useProfile(new BlockProfile(entries, same.cache.hot));
  runHart(same.harts[0]!, same.cache, 1);
  const sb = same.cache.lookup(same.harts[0]!);
  assert.ok(sb.queued || sb.wx >= 0 || sb.run !== null, "due for compilation after one run");

  // The same offset, another immediate: another block.
  const changed = looping(2);
  changed.cache.useProfile(new BlockProfile(entries, changed.cache.hot));
  runHart(changed.harts[0]!, changed.cache, 1);
  const cb = changed.cache.lookup(changed.harts[0]!);
  assert.equal(cb.hits, 1);
  assert.ok(!cb.queued && cb.wx < 0 && cb.run === null, "not compiled early");

  // Without the profile, the same block waits for the threshold.
  const plain = looping(1);
  runHart(plain.harts[0]!, plain.cache, 1);
  assert.equal(plain.cache.lookup(plain.harts[0]!).hits, 1);
});

test("blocks built before the profile arrived are due at their next run", () => {
  const m = looping(1);
  const h = m.harts[0]!;
  runHart(h, m.cache, 1);
  const b = m.cache.lookup(h);
  assert.equal(b.hits, 1);
  m.cache.useProfile(new BlockProfile([{ off: CODE, hash: blockHash(b.raws, b.n), score: 5000 }], m.cache.hot));
  assert.equal(b.hits, m.cache.hot - 1);
});

test("scores: a compiled block stays due for two runs without it; warm blocks are counted", () => {
  const m = looping(1);
  const h = m.harts[0]!;
  const hot = m.cache.hot;
  const p = new BlockProfile([], hot);
  m.cache.useProfile(p);
  runHart(h, m.cache, 2 * 300); // 300 runs of the loop's block: warm, not hot
  p.collect(m.cache);
  let e = p.entries();
  assert.deepEqual(
    e.map((x) => x.score),
    [300],
  );
  const b = m.cache.lookup(h);
  m.cache.compile(b);
  e = p.entries();
  assert.deepEqual(
    e.map((x) => x.score),
    [2 * hot],
  );
  // Next runs, without the block: due, due, then not.
  let entries = e;
  const due: boolean[] = [];
  for (let run = 0; run < 3; run++) {
    const q = new BlockProfile(entries, hot);
    due.push(q.due === 1);
    entries = q.entries();
  }
  assert.deepEqual(due, [true, true, false]);
});

test("CORRAL_BLOCK_PROFILE: 0 turns profiles off, a path moves them", () => {
  assert.equal(profileDir("/h", {}), "/h/block-profiles");
  assert.equal(profileDir("/h", { CORRAL_BLOCK_PROFILE: "0" }), null);
  assert.equal(profileDir("/h", { CORRAL_BLOCK_PROFILE: "/elsewhere" }), "/elsewhere");
});

test("an entry is hinted once until the cache is trimmed: a rewritten page does not compile again and again", () => {
  const m = looping(1);
  const h = m.harts[0]!;
  const first = m.cache.lookup(h);
  const p = new BlockProfile([{ off: CODE, hash: blockHash(first.raws, first.n), score: 10_000 }], m.cache.hot);
  m.cache.invalidateAll();
  m.cache.useProfile(p);
  assert.equal(m.cache.lookup(h).hits, m.cache.hot - 1, "hinted");
  m.cache.invalidatePage(CODE >>> 12);
  assert.equal(m.cache.lookup(h).hits, 0, "rebuilt after a write: not hinted again");
  m.cache.trim();
  assert.equal(m.cache.lookup(h).hits, m.cache.hot - 1, "hinted again after a trim");
});
