// The instruction kinds against GNU binutils: every decodable instruction gets the kind that
// `objdump -M no-aliases` names it, and what objdump cannot decode is ILLEGAL. The 32-bit words
// are random (fixed seed) with each major opcode equally likely; the 16-bit parcels are all of them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decode } from "./decode.js";
import { K, KIND_INFO, KINDS } from "./kinds.js";
import { rng } from "../testing/rng.js";

const OBJDUMP = ["riscv64-unknown-elf-objdump", "riscv64-linux-gnu-objdump"].find((c) => {
  try {
    execFileSync(c, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
});

/** objdump's disassembly of `bytes` (one instruction after another): mnemonic and operands. */
function disassemble(bytes: Uint8Array): { mn: string; args: string[] }[] {
  const dir = mkdtempSync(join(tmpdir(), "corral-kinds-"));
  try {
    const file = join(dir, "code.bin");
    writeFileSync(file, bytes);
    const out = execFileSync(OBJDUMP!, ["-D", "-b", "binary", "-m", "riscv:rv64", "-M", "no-aliases", file], {
      encoding: "utf8",
      maxBuffer: 1 << 28,
    });
    return out
      .split("\n")
      .map((l) => /^\s+[0-9a-f]+:\s+[0-9a-f]+\s+(\S+)\s*(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ mn: m[1]!, args: m[2]!.split(",") }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compressed mnemonics (unprivileged spec chapter 16) by the 32-bit instruction they expand to. */
const EXPANDS: Record<string, string> = {
  li: "addi",
  mv: "add",
  j: "jal",
  jr: "jalr",
  beqz: "beq",
  bnez: "bne",
  nop: "addi",
  addi4spn: "addi",
  addi16sp: "addi",
  lwsp: "lw",
  ldsp: "ld",
  swsp: "sw",
  sdsp: "sd",
  fldsp: "fld",
  fsdsp: "fsd",
};
/** Instructions that only write rd: with rd = x0 they are hints, K.NOP (unprivileged spec 2.9). */
const PURE = new Set([
  "lui",
  "auipc",
  "addi",
  "slti",
  "sltiu",
  "xori",
  "ori",
  "andi",
  "slli",
  "srli",
  "srai",
  "addiw",
  "slliw",
  "srliw",
  "sraiw",
  "add",
  "sub",
  "sll",
  "slt",
  "sltu",
  "xor",
  "srl",
  "sra",
  "or",
  "and",
  "mul",
  "addw",
  "subw",
  "sllw",
  "srlw",
  "sraw",
  "mulw",
]);

/**
 * Whether the decoder's `kind` is right for the word `w` objdump printed as `mn args`. Where the
 * two differ, the spec says which is right, or the difference is Corral's known leniency:
 * - FENCE and FENCE.I ignore their rd, rs1 and spare immediate bits, as base implementations
 *   shall (unprivileged spec, "Memory Ordering Instructions" and "Zifencei"); objdump rejects
 *   nonzero ones.
 * - LR ignores its rs2 field (which the spec reserves as zero; objdump rejects it).
 * - objdump prints reserved rounding modes as "unknown", C.ADDI16SP with a zero immediate (reserved,
 *   chapter 16) and the withdrawn SFENCE.VM of privileged spec 1.9: all illegal instructions.
 * - C.SLLI64 and friends are shifts by zero: moves (ADDI 0), or hints with rd x0.
 */
function agrees(kind: K, w: number, mn: string, args: string[]): boolean {
  const base = mn.startsWith("c.") ? (EXPANDS[mn.slice(2)] ?? mn.slice(2)) : mn.replace(/\.(aqrl|aq|rl)$/, "");
  if (mn.startsWith(".")) {
    if ((w & 0x707f) === 0x000f) return kind === K.NOP;
    if ((w & 0x707f) === 0x100f) return kind === K.FENCE_I;
    if ((w & 0xf800707f) === 0x1000202f || (w & 0xf800707f) === 0x1000302f)
      return kind === ((w >>> 12) & 1 ? K.LR_D : K.LR_W);
    return kind === K.ILLEGAL;
  }
  if (mn === "c.unimp" || mn === "sfence.vm" || args.includes("unknown") || (mn === "c.addi16sp" && args[1] === "0"))
    return kind === K.ILLEGAL;
  if (/^c\.s(ll|rl|ra)i64$/.test(mn)) return kind === (args[0] === "zero" ? K.NOP : K.ADDI);
  // FENCE and its hints, and pure ops writing x0.
  if (kind === K.NOP)
    return base === "fence" || base === "fence.tso" || base === "pause" || (PURE.has(base) && args[0] === "zero");
  // A shift by 0 is decoded as the move it is (ADDI 0).
  if (kind === K.ADDI && /^(c\.)?(slli|srli|srai)$/.test(mn) && /^(0|0x0)$/.test(args.at(-1)!)) return true;
  if (kind === K.FP) return base.startsWith("f") && !["flw", "fld", "fsw", "fsd"].includes(base);
  return KIND_INFO[kind][0] === base;
}

/** Every major opcode of RV64GC's 32-bit instructions (unprivileged spec chapter 24, table 24.1). */
const OPCODES = [
  0x03, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x47, 0x4b, 0x4f, 0x53, 0x63, 0x67,
  0x6f, 0x73,
];

const NO_OBJDUMP = OBJDUMP === undefined && "no RISC-V objdump (binutils-riscv64-linux-gnu)";

test(
  "every 32-bit instruction decodes to the kind binutils names it, and every kind but NEXT occurs",
  { skip: NO_OBJDUMP },
  () => {
    const r = rng(20261206);
    const words = new Uint32Array(40000);
    for (let i = 0; i < words.length; i++) {
      let w = (r() & ~0x7f) | OPCODES[r() % OPCODES.length]!;
      // Narrow some fields so that the rarer encodings occur: funct7 0, 1 or 0x20; SYSTEM's
      // privileged forms; CSR sstatus.
      if (r() % 2) w = (w & 0x01ffffff) | ([0, 1, 0x20, 0x09, 0x08, 0x18][r() % 6]! << 25);
      if ((w & 0x7f) === 0x73 && r() % 2) w &= r() % 2 ? 0xfff00000 | 0x7f : 0x1ffff07f;
      words[i] = w >>> 0;
    }
    const bytes = new Uint8Array(words.buffer);
    const dis = disassemble(bytes);
    assert.equal(dis.length, words.length, "one disassembled line per word");
    const seen = new Set<K>();
    const wrong: string[] = [];
    dis.forEach(({ mn, args }, i) => {
      const kind = decode(words[i]! | 0, 4, 0).entry[0];
      seen.add(kind);
      if (!agrees(kind, words[i]!, mn, args)) wrong.push(disagreement(words[i]!, 8, mn, args, kind));
    });
    assert.equal(wrong.length, 0, summary(wrong));
    const missing = Array.from({ length: KINDS }, (_, k) => k as K).filter((k) => k !== K.NEXT && !seen.has(k));
    assert.deepEqual(
      missing.map((k) => KIND_INFO[k][0]),
      [],
    );
  },
);

test("every 16-bit parcel decodes to the kind of the instruction binutils expands it to", { skip: NO_OBJDUMP }, () => {
  const parcels = Array.from({ length: 0x10000 }, (_, p) => p).filter((p) => (p & 3) !== 3);
  const dis = disassemble(new Uint8Array(new Uint16Array(parcels).buffer));
  assert.equal(dis.length, parcels.length, "one disassembled line per parcel");
  const wrong: string[] = [];
  dis.forEach(({ mn, args }, i) => {
    const kind = decode(parcels[i]!, 2, 0).entry[0];
    if (!agrees(kind, parcels[i]!, mn, args)) wrong.push(disagreement(parcels[i]!, 4, mn, args, kind));
  });
  assert.equal(wrong.length, 0, summary(wrong));
});

function disagreement(w: number, digits: number, mn: string, args: string[], kind: K): string {
  return `${w.toString(16).padStart(digits, "0")}: objdump ${mn} ${args.join(",")}, decoded ${KIND_INFO[kind][0]}`;
}

/** Disagreements grouped by what objdump said and what was decoded, with one example each. */
function summary(wrong: string[]): string {
  const m = new Map<string, string[]>();
  for (const w of wrong) {
    const key = w.replace(/^[0-9a-f]+: objdump (\S+) .*, decoded (.*)$/, "$1 -> $2");
    m.set(key, [...(m.get(key) ?? []), w]);
  }
  return [...m].map(([k, v]) => `${v.length} ${k}: ${v[0]}`).join("\n");
}
