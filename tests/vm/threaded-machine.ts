/**
 * A bare-metal program on harts that each run on a thread of their own (CORRAL_THREADS's machine,
 * src/machine/threads), in this process, so a test can read where its instructions ran.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { buildMachine } from "../../src/machine/builder.js";
import type { Machine } from "../../src/machine/machine.js";

/** The machine for `elf` on `cpus` harts with 64 MiB of RAM; `out()` is its console output so far. */
export function threadedMachine(elf: string, cpus: number): { m: Machine; out: () => string } {
  let out = "";
  const m = buildMachine({
    memory: 64 * 2 ** 20,
    cpus,
    threads: true,
    kernel: { name: basename(elf), data: new Uint8Array(readFileSync(elf)) },
    console: (b) => (out += Buffer.from(b).toString("latin1")),
  });
  return { m, out: () => out };
}
