/** `corral ps`: the running VMs (stale state of crashed ones is cleaned on the way). */
import { isCorralError } from "../errors.js";
import { VmClient } from "../vm/client.js";
import { listVms } from "../vm/state.js";

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write("Usage: corral ps [--json]\n\nList running VMs: name, pid, cpus, memory, state, uptime.\n");
    return 0;
  }
  const rows = await Promise.all(
    listVms().map(async (r) => {
      // Asked all at once, each with its own time limit (client.ts): a wedged VM is shown as
      // such, never waited on, and never delays the others.
      const state = await new VmClient(r.name).info().then(
        (i) => i.state,
        (e: unknown) => (isCorralError(e) && e.code === "VM_NOT_ANSWERING" ? "not answering" : "unknown"),
      );
      return { ...r, state, uptimeMs: Date.now() - r.startedAt };
    }),
  );
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify(rows) + "\n");
    return 0;
  }
  const table = [["NAME", "PID", "CPUS", "MEMORY", "STATE", "UPTIME"], ...rows.map((r) => [r.name, String(r.pid), String(r.cpus), `${Math.round(r.memory / 2 ** 20)}M`, r.state, duration(r.uptimeMs)])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
  return 0;
}
