// The constants the compiled guest agent shares with the host are spelt twice, once in
// native/corral-agent.c and once in src/vm/agent/protocol.ts: they must agree. The build made the
// agent the image carries, a static riscv64 ELF executable, and a cache made by another Corral
// gets it without a download.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AGENT_BINARY, AGENT_SOURCE, guestAgent } from "./agent.js";
import { MANIFEST, verifyImage, type Manifest } from "./cache.js";
import { ensureDefaultImage, imageDir, initramfsRecipe } from "./pull.js";
import { sharedImage } from "./testing.js";
import { readCpio } from "../formats/cpio.js";
import {
  AGENT_MAX_LINE,
  AGENT_PORT_NAME,
  AGENT_VERSION,
  OUTPUT_CHUNK,
  STDIN_CHUNK,
  STDIN_WINDOW,
} from "../vm/agent/protocol.js";
import { parseElf } from "../formats/elf.js";

const source = readFileSync(AGENT_SOURCE, "utf8");
const define = (name: string): string => {
  const m = new RegExp(`^#define ${name} (.+)$`, "m").exec(source);
  assert.ok(m, `native/corral-agent.c defines ${name}`);
  return m[1]!.trim();
};

test("the agent's protocol constants are the host's", () => {
  assert.equal(define("AGENT_PORT_NAME"), JSON.stringify(AGENT_PORT_NAME));
  assert.equal(Number(define("AGENT_VERSION")), AGENT_VERSION);
  assert.equal(Number(define("OUTPUT_CHUNK")), OUTPUT_CHUNK);
  assert.equal(Number(define("STDIN_CHUNK")), STDIN_CHUNK);
  assert.equal(Number(define("STDIN_WINDOW")), STDIN_WINDOW);
  assert.equal(Number(define("AGENT_MAX_LINE")), AGENT_MAX_LINE);
});

test("the built agent is a static riscv64 executable", () => {
  const elf = guestAgent();
  assert.deepEqual(elf, new Uint8Array(readFileSync(AGENT_BINARY)));
  const h = parseElf(elf, { machine: 243 }); // EM_RISCV
  assert.equal(h.type, 2, "ET_EXEC: static, not position-independent");
  assert.ok(h.symbol("_start") !== undefined);
  // No interpreter (PT_INTERP, 3): nothing to load before it runs.
  assert.equal(
    h.segments.some((s) => s.type === 3),
    false,
  );
});

test("a cached image made with another agent gets its initramfs rebuilt with this one, offline", async () => {
  const img = await sharedImage();
  // A copy of the cached image whose manifest names another recipe, as one an older Corral made.
  // Hard links cost no space; the rebuild replaces files by rename, never writes into them.
  const home = mkdtempSync(join(tmpdir(), "corral-old-cache-"));
  try {
    const dir = imageDir(home);
    mkdirSync(join(home, "images"));
    execFileSync("cp", ["-al", img.dir, dir]);
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as Manifest;
    rmSync(join(dir, MANIFEST));
    writeFileSync(join(dir, MANIFEST), JSON.stringify({ ...manifest, initramfsRecipe: "an-older-corral" }));
    const got = await ensureDefaultImage({ home, offline: true });
    assert.equal(got.manifest.initramfsRecipe, initramfsRecipe());
    verifyImage(dir, { full: true });
    const agent = readCpio(new Uint8Array(readFileSync(got.initramfs))).find((e) => e.name === "bin/corral-agent");
    assert.ok(agent, "the initramfs holds /bin/corral-agent");
    assert.deepEqual(agent.data, guestAgent());
    assert.equal(agent.mode & 0o777, 0o755);
    // The shared image was not touched.
    assert.equal(JSON.parse(readFileSync(join(img.dir, MANIFEST), "utf8")).initramfsRecipe, initramfsRecipe());
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
