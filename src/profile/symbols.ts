/**
 * A kernel's code symbols from System.map text ("ffffffff80002000 T _stext" lines), looked up by
 * address. Addresses are kept as the signed 64-bit values the hart holds its pc in (Hart: every
 * canonical address is exact in a double), so a sample needs no conversion.
 */

/** nm's letters for code: text, weak (a weak symbol's code is as good as any). */
const CODE_TYPES = new Set(["t", "T", "w", "W"]);

export class KernelSymbols {
  private constructor(
    /** Start addresses, ascending. */
    private readonly starts: Float64Array,
    readonly names: readonly string[],
    /**
     * The end of the kernel image (_end), past which a kernel pc is a module's. Not _etext:
     * .init.text (start_kernel and the rest of boot) lies beyond it.
     */
    readonly textEnd: number,
    /** The address of init_task (the boot CPU's idle task), whose comm names the field's offset. */
    readonly initTask: number | undefined,
  ) {}

  /** Parse System.map text; null when it holds no code symbols (Debian's placeholder file). */
  static parse(text: string): KernelSymbols | null {
    const entries: [number, string][] = [];
    let textEnd = -Infinity;
    let initTask: number | undefined;
    for (const line of text.split("\n")) {
      const m = /^([0-9a-fA-F]{1,16}) (\S) (\S+)/.exec(line);
      if (!m) continue;
      const addr = Number(BigInt.asIntN(64, BigInt(`0x${m[1]!}`)));
      if (m[3] === "_end") textEnd = addr;
      if (m[3] === "init_task") initTask = addr;
      if (CODE_TYPES.has(m[2]!)) entries.push([addr, m[3]!]);
    }
    if (entries.length === 0) return null;
    entries.sort((a, b) => a[0] - b[0]);
    if (textEnd === -Infinity) textEnd = entries[entries.length - 1]![0] + 4096;
    return new KernelSymbols(
      Float64Array.from(entries, (e) => e[0]),
      entries.map((e) => e[1]),
      textEnd,
      initTask,
    );
  }

  get size(): number {
    return this.names.length;
  }

  /** The index of the symbol holding `pc` (the last one at or below it), or -1 outside the kernel image. */
  lookup(pc: number): number {
    const s = this.starts;
    if (s.length === 0 || pc < s[0]! || pc >= this.textEnd) return -1;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= pc) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The address of the symbol `name`, or undefined. */
  address(name: string): number | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.starts[i];
  }
}
