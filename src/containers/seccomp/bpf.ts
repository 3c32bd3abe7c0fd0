/**
 * A tiny classic-BPF assembler for seccomp filters: symbolic forward labels, and conditional
 * jumps whose target is more than 255 instructions away rewritten through `ja` trampolines
 * (jt/jf are u8 in struct sock_filter, while BPF_JA takes a 32-bit offset). Classic BPF only
 * jumps forward, so every label must be placed after the jumps that use it.
 */
import { BPF, BPF_MAX_COND_JUMP, SOCK_FILTER } from "./layout.js";

export interface Label {
  readonly id: number;
}
/** A branch goes to a label, or falls through to the next instruction. */
export type Target = Label | "next";
export type CondOp = "jeq" | "jgt" | "jge" | "jset";

type Item =
  | { kind: "label"; label: Label }
  | { kind: "stmt"; code: number; k: number }
  | { kind: "ja"; target: Label }
  | { kind: "jcond"; code: number; k: number; jt: Target; jf: Target };

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const COND_CODE: Record<CondOp, number> = {
  jeq: BPF.JMP | BPF.JEQ | BPF.K,
  jgt: BPF.JMP | BPF.JGT | BPF.K,
  jge: BPF.JMP | BPF.JGE | BPF.K,
  jset: BPF.JMP | BPF.JSET | BPF.K,
};

export class BpfAssembler {
  private items: Item[] = [];
  private nextLabel = 0;

  label(): Label {
    return { id: this.nextLabel++ };
  }
  place(label: Label): void {
    this.items.push({ kind: "label", label });
  }
  /** A <- 32-bit word at `offset` of struct seccomp_data. */
  loadWord(offset: number): void {
    this.items.push({ kind: "stmt", code: BPF.LD | BPF.W | BPF.ABS, k: offset });
  }
  /** A <- A & k */
  and(k: number): void {
    this.items.push({ kind: "stmt", code: BPF.ALU | BPF.AND | BPF.K, k: k >>> 0 });
  }
  ret(k: number): void {
    this.items.push({ kind: "stmt", code: BPF.RET | BPF.K, k: k >>> 0 });
  }
  jump(target: Label): void {
    this.items.push({ kind: "ja", target });
  }
  /** if (A <op> k) goto jt else goto jf; comparisons are unsigned 32-bit. */
  cond(op: CondOp, k: number, jt: Target, jf: Target): void {
    this.items.push({ kind: "jcond", code: COND_CODE[op], k: k >>> 0, jt, jf });
  }

  /** Resolves labels, inserting trampolines until every conditional jump fits in a u8. */
  assemble(): Instruction[] {
    let items = this.items;
    for (;;) {
      const { pos, labelPos } = layout(items);
      const dist = (from: number, t: Target): number => {
        if (t === "next") return 0;
        const to = labelPos.get(t.id);
        if (to === undefined) throw new Error(`BPF label ${t.id} never placed`);
        const d = to - (from + 1);
        if (d < 0) throw new Error(`BPF label ${t.id} placed before its jump (classic BPF jumps forward only)`);
        return d;
      };
      const expanded: Item[] = [];
      let changed = false;
      items.forEach((it, i) => {
        if (it.kind !== "jcond") return void expanded.push(it);
        const p = pos[i] ?? 0;
        const farT = dist(p, it.jt) > BPF_MAX_COND_JUMP;
        const farF = dist(p, it.jf) > BPF_MAX_COND_JUMP;
        if (!farT && !farF) return void expanded.push(it);
        changed = true;
        const after = this.label();
        const keep = (t: Target): Target => (t === "next" ? after : t);
        const tT = this.label();
        const tF = this.label();
        expanded.push({ ...it, jt: farT ? tT : keep(it.jt), jf: farF ? tF : keep(it.jf) });
        if (farT && it.jt !== "next") expanded.push({ kind: "label", label: tT }, { kind: "ja", target: it.jt });
        if (farF && it.jf !== "next") expanded.push({ kind: "label", label: tF }, { kind: "ja", target: it.jf });
        expanded.push({ kind: "label", label: after });
      });
      items = expanded;
      if (!changed) break;
    }
    this.items = items;
    const { pos, labelPos } = layout(items);
    const out: Instruction[] = [];
    items.forEach((it, i) => {
      const p = pos[i] ?? 0;
      const rel = (t: Target): number => (t === "next" ? 0 : (labelPos.get(t.id) ?? 0) - (p + 1));
      if (it.kind === "stmt") out.push({ code: it.code, jt: 0, jf: 0, k: it.k });
      else if (it.kind === "ja") out.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: rel(it.target) });
      else if (it.kind === "jcond") out.push({ code: it.code, jt: rel(it.jt), jf: rel(it.jf), k: it.k });
    });
    return out;
  }
}

function layout(items: Item[]): { pos: number[]; labelPos: Map<number, number> } {
  const pos: number[] = [];
  const labelPos = new Map<number, number>();
  let n = 0;
  for (const it of items) {
    pos.push(n);
    if (it.kind === "label") labelPos.set(it.label.id, n);
    else n++;
  }
  return { pos, labelPos };
}

/** Serializes to the bytes of `struct sock_filter[]` (little-endian, as on x86_64). */
export function encode(program: readonly Instruction[]): Uint8Array {
  const bytes = new Uint8Array(program.length * SOCK_FILTER.size);
  const view = new DataView(bytes.buffer);
  program.forEach((ins, i) => {
    const base = i * SOCK_FILTER.size;
    view.setUint16(base + SOCK_FILTER.code, ins.code, true);
    view.setUint8(base + SOCK_FILTER.jt, ins.jt);
    view.setUint8(base + SOCK_FILTER.jf, ins.jf);
    view.setUint32(base + SOCK_FILTER.k, ins.k >>> 0, true);
  });
  return bytes;
}

/** The inverse of encode(), for tests and diagnostics. */
export function decode(bytes: Uint8Array): Instruction[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  for (let base = 0; base + SOCK_FILTER.size <= bytes.byteLength; base += SOCK_FILTER.size) {
    out.push({
      code: view.getUint16(base + SOCK_FILTER.code, true),
      jt: view.getUint8(base + SOCK_FILTER.jt),
      jf: view.getUint8(base + SOCK_FILTER.jf),
      k: view.getUint32(base + SOCK_FILTER.k, true),
    });
  }
  return out;
}
