/** `corral ps [-a]`: the running VMs, and with -a those that ended (stale state of crashed ones is cleaned on the way). */
import { isCorralError } from "../errors.js";
import { parseVerbArgs, usageError } from "../args.js";
import { VmClient } from "../vm/client.js";
import { listEnded, listVms } from "../vm/state.js";

const USAGE = `Usage: corral ps [-a] [--json]

List running VMs: name, pid, cpus, memory, state, uptime. With -a (--all), also the VMs that
ended (state 'exited'), with how they ended: 'poweroff CODE', 'stopped', 'reset', 'panic',
'fault', 'killed' (by 'corral stop' after its timeout) or 'crashed' (their process died);
'corral rm NAME' removes one.
`;

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs("ps", argv, {
    all: { type: "boolean", short: "a" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`unexpected argument '${positionals[0]}'; see 'corral ps --help'`);
  const all = values.all === true;
  const rows = await Promise.all(
    listVms().map(async (r) => {
      // Asked all at once, each with its own time limit (client.ts): a wedged VM is shown as
      // such, never waited on, and never delays the others.
      const state = await new VmClient(r.name).info().then(
        (i) => i.state,
        (e: unknown) => (isCorralError(e) && e.code === "VM_NOT_ANSWERING" ? "not answering" : "unknown"),
      );
      return { ...r, state, uptimeMs: Date.now() - r.startedAt, exit: undefined as string | undefined };
    }),
  );
  if (all)
    for (const e of listEnded())
      rows.push({
        name: e.name,
        pid: e.pid,
        cpus: e.cpus,
        memory: e.memory,
        startedAt: e.startedAt,
        state: "exited",
        uptimeMs: e.endedAt - e.startedAt,
        exit: e.how,
      });
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (values.json === true) {
    process.stdout.write(JSON.stringify(rows) + "\n");
    return 0;
  }
  const head = ["NAME", "PID", "CPUS", "MEMORY", "STATE", "UPTIME", ...(all ? ["EXIT"] : [])];
  const table = [
    head,
    ...rows.map((r) => [
      r.name,
      r.exit === undefined ? String(r.pid) : "-",
      String(r.cpus),
      `${Math.round(r.memory / 2 ** 20)}M`,
      r.state,
      duration(r.uptimeMs),
      ...(all ? [r.exit ?? "-"] : []),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    process.stdout.write(
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd() + "\n",
    );
  return 0;
}
