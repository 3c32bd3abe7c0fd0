/** `corral pool start|stop|status`: warm VM processes that restores and forks take (src/vm/pool.ts). */
import { CliError } from "./errors.js";
import { parseVerbArgs } from "../args.js";
import { daemonNodeFlags } from "../vm/launch.js";
import { MAX_POOL, poolMembers, startPool, stopPool } from "../vm/pool.js";

const USAGE = `Usage: corral pool start [--size N] [--warm SNAPSHOT_DIR]
       corral pool stop
       corral pool status

Keep N (default 2, at most ${MAX_POOL}) VM processes started ahead of time, their modules loaded,
so that 'corral restore' and 'corral fork' take one instead of starting Node: each taken one is
replaced. With --warm, each warms up first on that snapshot (a restore of it into a machine it
then throws away, a few execs run in it): the emulator's code is then already compiled by V8.
A waiting process ends after 30 minutes untaken; 'stop' ends them all and forgets the pool.
`;

export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseVerbArgs("pool", argv, {
    size: { type: "string", default: "2" },
    warm: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [action, extra] = positionals;
  if (extra !== undefined || (action !== "start" && action !== "stop" && action !== "status"))
    throw new CliError("USAGE", "usage: corral pool start [--size N] [--warm DIR] | stop | status", { exitCode: 2 });
  if (action === "start") {
    if (!/^\d+$/.test(values.size))
      throw new CliError("USAGE", `--size must be a whole number (got '${values.size}')`, { exitCode: 2 });
    if (values.warm !== undefined) {
      // Refused now, not in each pool process: a directory that is no snapshot.
      const { checkSnapshot } = await import("../snapshot/restore.js");
      checkSnapshot(values.warm, { trustRam: true });
    }
    startPool({ size: Number(values.size), warm: values.warm }, daemonNodeFlags());
  } else if (action === "stop") {
    const n = await stopPool();
    process.stdout.write(`pool: stopped ${n} process${n === 1 ? "" : "es"}\n`);
    return 0;
  }
  const members = poolMembers();
  const ready = members.filter((m) => m.ready).length;
  process.stdout.write(
    `pool: ${members.length} process${members.length === 1 ? "" : "es"}, ${ready} warm and waiting\n`,
  );
  return 0;
}
