/**
 * The guest half of a profile: after each hart's slice (Machine.sampler) the pc it stopped at,
 * weighted by the instructions the slice retired, so the shares are of guest instructions. A
 * kernel pc is counted under its System.map symbol; every sample is also counted under its
 * privilege mode and under the process it ran for, whose name (task_struct.comm) is read from
 * guest memory: in S-mode tp holds the current task, in U-mode sscratch does (Linux
 * arch/riscv/kernel/entry.S), and comm's offset is found once as the "swapper" in init_task.
 * Memory stays bounded: counts per symbol, and at most MAX_KEYS raw addresses and processes.
 */
import type { Hart } from "../cpu/hart/hart.js";
import { PRIV_M, PRIV_S, PRIV_U, SATP_BARE } from "../cpu/isa/defs.js";
import { peekBytes } from "./peek.js";
import type { KernelSymbols } from "./symbols.js";

/** Distinct raw addresses (or processes) kept before the rest are counted together. */
export const MAX_KEYS = 4096;
/** task_struct.comm's size (TASK_COMM_LEN). */
const COMM_LEN = 16;
/** How far into init_task comm is looked for. */
const TASK_SCAN = 16384;
const SWAPPER = Buffer.from("swapper", "latin1");

/**
 * What a sample reads of a hart: its pc and mode, and what names the process (tp, sscratch) and
 * reads its memory (the page tables, RAM). A hart on a thread of its own sends these fields
 * (machine/threads/samples.ts).
 */
export type SampledHart = Pick<Hart, "pc" | "priv" | "satpMode" | "satpRoot" | "x" | "scratch" | "ram">;

export interface Row {
  label: string;
  weight: number;
}

export class GuestSamples {
  /** Instructions the samples stand for (the sum of their weights). */
  total = 0;
  samples = 0;
  /** By mode: U, S, M. */
  readonly modes = { user: 0, kernel: 0, firmware: 0 };
  private readonly bySymbol: Float64Array;
  /** Kernel pcs no symbol holds (modules, or no System.map), M-mode pcs: by label. */
  private readonly raw = new Map<string, number>();
  private readonly processes = new Map<string, { kernel: number; user: number }>();
  private commOffset: number | null = null;
  private commTries = 0;

  constructor(readonly symbols: KernelSymbols | null) {
    this.bySymbol = new Float64Array(symbols?.size ?? 0);
  }

  /** Machine.sampler: hart `h` has just run a slice that retired `n` instructions. */
  readonly sample = (h: SampledHart, n: number): void => {
    if (n <= 0) return;
    this.samples++;
    this.total += n;
    const pc = h.pc;
    const priv = h.priv;
    if (priv === PRIV_M) {
      this.modes.firmware += n;
      this.bump(this.raw, `[M-mode firmware] ${hex(pc)}`, n);
      return;
    }
    if (priv === PRIV_U) this.modes.user += n;
    else this.modes.kernel += n;
    const proc = this.processName(h, priv);
    const p = this.processes.get(proc) ?? (this.processes.size < MAX_KEYS ? { kernel: 0, user: 0 } : undefined);
    if (p !== undefined) {
      if (priv === PRIV_U) p.user += n;
      else p.kernel += n;
      this.processes.set(proc, p);
    }
    if (priv !== PRIV_S) return;
    const i = this.symbols ? this.symbols.lookup(pc) : -1;
    if (i >= 0) this.bySymbol[i]! += n;
    else if (this.symbols && pc < 0) this.bump(this.raw, "[kernel modules]", n);
    else this.bump(this.raw, hex(pc), n);
  };

  /** Kernel symbols and raw addresses, heaviest first. */
  hottest(): Row[] {
    const rows: Row[] = [];
    const names = this.symbols?.names ?? [];
    this.bySymbol.forEach((w, i) => {
      if (w > 0) rows.push({ label: names[i]!, weight: w });
    });
    for (const [label, weight] of this.raw) rows.push({ label, weight });
    return rows.sort((a, b) => b.weight - a.weight);
  }

  byProcess(): { label: string; kernel: number; user: number }[] {
    return [...this.processes]
      .map(([label, p]) => ({ label, ...p }))
      .sort((a, b) => b.kernel + b.user - (a.kernel + a.user));
  }

  private bump(m: Map<string, number>, key: string, n: number): void {
    const v = m.get(key);
    if (v !== undefined) m.set(key, v + n);
    else if (m.size < MAX_KEYS) m.set(key, n);
    else m.set("(other addresses)", (m.get("(other addresses)") ?? 0) + n);
  }

  /** The current task's comm, or a stand-in when it cannot be read (yet). */
  private processName(h: SampledHart, priv: number): string {
    if (h.satpMode === SATP_BARE) return "(early boot)";
    if (this.commOffset === null && !this.findComm(h)) return "(unknown)";
    // tp is x4; sscratch is the second pair of Hart.scratch (csr.ts).
    const task = priv === PRIV_U ? pair(h.scratch[3]!, h.scratch[2]!) : pair(h.x[9]!, h.x[8]!);
    const b = peekBytes(h, task + this.commOffset!, COMM_LEN);
    if (b === null) return "(unknown)";
    let s = "";
    for (const c of b) {
      if (c === 0) break;
      s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
    }
    return s || "(unnamed)";
  }

  /** Find comm's offset in task_struct: init_task's comm reads "swapper" (or "swapper/0"). */
  private findComm(h: SampledHart): boolean {
    const at = this.symbols?.initTask;
    // A few hundred tries at most, spread out: early in boot the kernel's mapping may not be up.
    if (at === undefined || this.commTries > 200 || this.samples % 64 !== 1) return false;
    this.commTries++;
    for (let off = 0; off < TASK_SCAN;) {
      const len = Math.min(4096 - ((at + off) & 0xfff), TASK_SCAN - off);
      const b = peekBytes(h, at + off, len);
      if (b === null) return false;
      const i = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(SWAPPER);
      if (i >= 0 && (b[i + 7] === 0 || b[i + 7] === 0x2f)) {
        this.commOffset = off + i;
        return true;
      }
      off += len;
    }
    return false;
  }
}

/** The signed 64-bit value of a register pair, as a double (exact for canonical addresses). */
const pair = (hi: number, lo: number): number => hi * 4294967296 + (lo >>> 0);

export const hex = (pc: number): string => `0x${BigInt.asUintN(64, BigInt(pc)).toString(16)}`;
