import { CorralError } from "../errors.js";
import { Containers, type RunRequest } from "../containers/front.js";
import type { NetworkMode } from "../containers/net/index.js";
import { parseVerbArgs, usageError, type Options } from "../args.js";
import { parseSecurityOpts } from "../containers/seccomp/choice.js";
import { SIZE_HELP, parseSize } from "../size.js";

/**
 * `corral container`: run and manage OS-level containers (issue 4, "The user's front").
 *   corral container run [--name N] [--cpus 0.5] [--memory 256M] [--pids 100]
 *                        [--net bridge|macvlan:eth0|ipvlan:eth0|none] [-d] [--rm]
 *                        [--security-opt seccomp=unconfined|PROFILE.json] IMAGE -- CMD...
 *   corral container ls | exec NAME -- CMD... | stop NAME | rm [-f] NAME | stats NAME
 */
const USAGE = `Usage:
  corral container run [--name N] [--cpus 0.5] [--memory 256M] [--pids 100]
                       [--net bridge|macvlan:IF|ipvlan:IF|none] [-d] [--rm]
                       [--security-opt seccomp=unconfined|PROFILE.json] IMAGE -- CMD...
  corral container ls
  corral container exec NAME -- CMD...
  corral container stop [-t SECONDS] NAME
  corral container rm [-f] NAME
  corral container stats NAME

IMAGE is a root filesystem directory, a rootfs tarball, or 'busybox' (built from the host's
busybox-static). Each container gets an overlay on the shared image.
Containers run under Corral's default seccomp profile (no keyrings, namespaces, mounts, BPF...);
seccomp=unconfined turns it off, seccomp=FILE uses a profile in the OCI linux.seccomp form.
${SIZE_HELP}.
`;

export function parseNet(s: string): NetworkMode {
  if (s === "bridge" || s === "none") return s;
  const [kind, dev] = s.split(":");
  if ((kind === "macvlan" || kind === "ipvlan") && dev) return kind === "macvlan" ? { macvlan: dev } : { ipvlan: dev };
  throw usageError(`--net '${s}' is not understood; use bridge, none, macvlan:IF or ipvlan:IF`);
}

function positiveNumber(s: string | undefined, flag: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${flag} needs a positive number (got '${s}')`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === "--help" || verb === "-h") {
    process.stdout.write(USAGE);
    return verb ? 0 : 2;
  }
  // Help for every sub-verb, before its flags are parsed (exec's command may take -h of its own).
  const end = rest.indexOf("--");
  const own = verb === "exec" ? rest.slice(0, 1) : end >= 0 ? rest.slice(0, end) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await subVerb(verb, rest);
  } catch (e) {
    // The runtime's error names no command: the hint names this front's.
    if (e instanceof CorralError && e.code === "OCI_NOT_FOUND")
      throw new CorralError(e.code, `${e.message}; 'corral container ls' lists the containers`, {
        cause: e,
        exitCode: e.exitCode,
      });
    throw e;
  }
}

async function subVerb(verb: string, rest: string[]): Promise<number> {
  const cts = new Containers();
  const name = (p: { positionals: string[] }) => {
    const n = p.positionals[0];
    if (!n) throw usageError(`'corral container ${verb}' needs a container name; see 'corral container --help'`);
    return n;
  };
  const parse = <O extends Options>(options: O) =>
    parseVerbArgs(`container ${verb}`, rest, options, { flagsFirst: true });
  switch (verb) {
    case "run": {
      const p = parse({
        name: { type: "string" },
        cpus: { type: "string" },
        memory: { type: "string", short: "m" },
        pids: { type: "string" },
        net: { type: "string" },
        detach: { type: "boolean", short: "d" },
        rm: { type: "boolean" },
        "security-opt": { type: "string", multiple: true },
      });
      const [image, ...after] = p.positionals;
      const cmd = after[0] === "--" ? after.slice(1) : after;
      if (!image) throw usageError("run needs an IMAGE; see 'corral container --help'");
      const req: RunRequest = {
        image,
        cmd: cmd.length > 0 ? cmd : ["sh"],
        net: parseNet(p.values.net ?? "none"),
        detach: p.values.detach === true,
        seccomp: parseSecurityOpts(p.values["security-opt"] ?? []),
      };
      const n = p.values.name;
      if (n) req.name = n;
      const cpus = positiveNumber(p.values.cpus, "--cpus");
      if (cpus !== undefined) req.cpus = cpus;
      const mem = p.values.memory;
      if (mem) req.memory = parseSize(mem);
      const pids = positiveNumber(p.values.pids, "--pids");
      if (pids !== undefined) req.pids = Math.floor(pids);
      const c = await cts.run(req);
      if (req.detach) {
        process.stdout.write(`${c.id}${c.address ? " " + c.address : ""}\n`);
        return 0;
      }
      const code = await c.exited;
      if (p.values.rm === true) await cts.rm(c.id, true);
      return code;
    }
    case "ls": {
      const rows = [
        ["NAME", "STATUS", "PID", "IMAGE", "NET", "ADDRESS"],
        ...cts.ls().map((c) => [c.name, c.status, String(c.pid), c.image, c.net, c.address]),
      ];
      const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
      process.stdout.write(
        rows
          .map((r) =>
            r
              .map((c, i) => c.padEnd((w[i] ?? 0) + 2))
              .join("")
              .trimEnd(),
          )
          .join("\n") + "\n",
      );
      return 0;
    }
    case "exec": {
      const args = parse({}).positionals;
      const n = name({ positionals: args });
      const cmd = args.slice(args[1] === "--" ? 2 : 1);
      if (cmd.length === 0) throw usageError("exec needs a command after the name; see 'corral container --help'");
      return cts.exec(n, cmd);
    }
    case "stop": {
      const p = parse({ time: { type: "string", short: "t" } });
      await cts.stop(name(p), positiveNumber(p.values.time, "--time") ?? 10);
      return 0;
    }
    case "rm": {
      const p = parse({ force: { type: "boolean", short: "f" } });
      await cts.rm(name(p), p.values.force === true);
      return 0;
    }
    case "stats": {
      const p = parse({});
      const s = cts.stats(name(p));
      const mib = (n: number) => (n / 1048576).toFixed(1) + " MiB";
      const limit =
        s.memory.usage.limit > 2 ** 60 || s.memory.usage.limit === 0 ? "no limit" : mib(s.memory.usage.limit);
      process.stdout.write(
        `cpu      ${(s.cpu.usage.total / 1e9).toFixed(2)} s (throttled ${s.cpu.throttling.throttledPeriods} of ${s.cpu.throttling.periods} periods)\nmemory   ${mib(s.memory.usage.usage)} of ${limit}\npids     ${s.pids.current}${s.pids.limit ? " of " + s.pids.limit : ""}\n`,
      );
      return 0;
    }
    case "_release": {
      // Internal: started by a detached run; not in the usage text.
      await cts.releaseWhenStopped(name({ positionals: rest }));
      return 0;
    }
    default:
      throw usageError(`unknown 'corral container ${verb}'; see 'corral container --help'`);
  }
}
