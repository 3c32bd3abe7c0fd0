/** The text of a profile (`corral run --profile FILE`). */
import type { MachineExit } from "../machine/machine.js";
import type { GuestSamples } from "./guest.js";
import { INTERVAL_MS, PHASES, type HostPhases } from "./host.js";

/** Rows of the hottest-symbols table. */
export const TOP_SYMBOLS = 40;
/** Rows of the by-process table. */
const TOP_PROCESSES = 20;

export interface ReportInput {
  exit: MachineExit;
  guest: GuestSamples;
  host: HostPhases;
  instructions: number;
  symbolsFrom: string | undefined;
  note: string | undefined;
}

const pct = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : "0.0"}%`;

export function formatReport(r: ReportInput): string {
  const { guest, host } = r;
  const lines: string[] = [];
  const secs = host.wallMs / 1000;
  lines.push(`corral profile: ${exitText(r.exit)}`);
  lines.push(
    `wall ${secs.toFixed(2)} s, ${(r.instructions / 1e6).toFixed(1)} M guest instructions, ${(r.instructions / 1e6 / Math.max(secs, 1e-9)).toFixed(1)} MIPS`,
  );
  if (r.note !== undefined) lines.push(`note: ${r.note}`);
  lines.push("");
  lines.push(
    `== Guest: ${guest.samples} samples (a hart's pc after each slice), weighted by the ${(guest.total / 1e6).toFixed(1)} M instructions they retired ==`,
  );
  const m = guest.modes;
  lines.push(
    `mode: kernel (S) ${pct(m.kernel, guest.total)}, user (U) ${pct(m.user, guest.total)}, firmware (M) ${pct(m.firmware, guest.total)}`,
  );
  lines.push("");
  lines.push(
    `-- hottest kernel symbols (${r.symbolsFrom !== undefined ? `System.map: ${r.symbolsFrom}` : "no System.map: raw addresses"}) --`,
  );
  for (const row of guest.hottest().slice(0, TOP_SYMBOLS))
    lines.push(`${pct(row.weight, guest.total).padStart(6)}  ${row.label}`);
  lines.push("");
  lines.push("-- by process (task_struct.comm): kernel + user --");
  for (const p of guest.byProcess().slice(0, TOP_PROCESSES))
    lines.push(
      `${pct(p.kernel + p.user, guest.total).padStart(6)}  ${p.label.padEnd(18)} kernel ${pct(p.kernel, guest.total)}, user ${pct(p.user, guest.total)}`,
    );
  lines.push("");
  let total = 0;
  for (const p of PHASES) total += host.micros.get(p)!;
  lines.push(`== Host: V8's sampling profiler, every ${INTERVAL_MS} ms; ${(total / 1e6).toFixed(3)} s sampled ==`);
  for (const p of PHASES) {
    const us = host.micros.get(p)!;
    lines.push(`${pct(us, total).padStart(6)}  ${(us / 1e6).toFixed(3).padStart(8)} s  ${p}`);
  }
  lines.push(`${pct(total, total).padStart(6)}  ${(total / 1e6).toFixed(3).padStart(8)} s  total`);
  return lines.join("\n") + "\n";
}

function exitText(e: MachineExit): string {
  switch (e.kind) {
    case "poweroff":
      return `the guest powered off (${e.code})`;
    case "reset":
      return "the guest asked for a reset";
    case "stopped":
      return e.signal !== undefined ? `stopped by ${e.signal}` : "stopped";
    case "panic":
      return `kernel panic: ${e.message}`;
    case "fault":
      return `fault: ${e.message.split("\n")[0] ?? ""}`;
  }
}
