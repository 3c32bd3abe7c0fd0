/**
 * `npm run bench -- fuzz --minutes N`: the differential fuzzer's long run (issue 17 item 4).
 * Programs from consecutive seeds (src/cpu/testing/fuzz.ts) run on QEMU, the oracle, and on
 * each of Corral's tiers until the time is up; every mismatch is listed with its seed, which
 * `node dist/src/bench/main.js fuzz --seed S` reruns alone (then: a regression test).
 */
import { rmSync } from "node:fs";
import { buildFuzz, firstDifference, runCorral, runQemu, TIERS, type Tier } from "../cpu/testing/fuzz-run.js";
import { tempDir } from "./cleanup.js";

/** Random instructions per program. */
const COUNT = 400;

export async function benchFuzz(minutes: number, firstSeed: number, onlySeed: boolean): Promise<string> {
  const dir = tempDir("corral-fuzz-");
  const tiers = Object.keys(TIERS) as Tier[];
  const mismatches: string[] = [];
  const until = Date.now() + minutes * 60_000;
  let programs = 0;
  try {
    for (let seed = firstSeed; onlySeed ? seed === firstSeed : Date.now() < until; seed = (seed + 1) >>> 0) {
      const elf = await buildFuzz(dir, seed, COUNT);
      const want = await runQemu(elf);
      for (const tier of tiers) {
        const diff = firstDifference(want, await runCorral(elf, tier));
        if (diff !== null) mismatches.push(`seed ${seed}, ${tier} tier: ${diff}`);
      }
      rmSync(elf, { force: true });
      programs++;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    `### Differential fuzzing against QEMU (${onlySeed ? `seed ${firstSeed}` : `${minutes} min from seed ${firstSeed}`})`,
    "",
    "| programs (400 random instructions each) | tiers | runs compared | mismatches |",
    "|---|---|---|---|",
    `| ${programs} | ${tiers.join(", ")} | ${programs * tiers.length} | ${mismatches.length} |`,
    "",
    ...mismatches.map((m) => `- ${m}`),
    "",
  ].join("\n");
}
