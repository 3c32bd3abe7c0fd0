import { appendFileSync } from "node:fs";
import { CorralError, isCorralError } from "../../errors.js";
import type { HelperRunner } from "../runtime/helper.js";
import { Runtime } from "../runtime/runtime.js";
import { COMMANDS } from "./commands.js";
import { flagBool, flagStr, parseFlags, type Parsed } from "./flags.js";
import { callPath, type CallIO } from "./io.js";

/**
 * One `corral oci` call (runc's command line: global flags --root, --log, --log-format, --debug,
 * then the command), with the caller's I/O given: the CLI and the resident server both run it.
 */
const GLOBAL = [
  { names: ["root"], kind: "string" as const },
  { names: ["log"], kind: "string" as const },
  { names: ["log-format"], kind: "string" as const },
  { names: ["debug"], kind: "bool" as const },
  { names: ["systemd-cgroup"], kind: "bool" as const },
  { names: ["rootless"], kind: "string" as const },
  { names: ["criu"], kind: "string" as const },
  { names: ["version", "v"], kind: "bool" as const },
  { names: ["help", "h"], kind: "bool" as const },
];
const VALUED = ["--root", "--log", "--log-format", "--rootless", "--criu"];

export const VERSION_TEXT = "corral-oci version 0.1.0\nspec: 1.1.0\n";

function usage(): string {
  return `Usage: corral oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND [options] ID

Commands:
${Object.entries(COMMANDS)
  .filter(([n]) => n !== "ls")
  .map(([n, c]) => `  ${n.padEnd(9)} ${c.summary}`)
  .join("\n")}
  server    the resident server: 'server stop' ends it (it also ends after 30 s without calls)
`;
}

/** The global flags and where the command starts. */
export function splitGlobals(argv: string[]): { globals: Parsed; cmdAt: number } {
  const cmdAt = argv.findIndex((a, i) => !a.startsWith("-") && !VALUED.includes(argv[i - 1] ?? ""));
  return { globals: parseFlags(cmdAt < 0 ? argv : argv.slice(0, cmdAt), GLOBAL, "corral oci"), cmdAt };
}

export interface CallOptions {
  /** The resident server's: the helper runs in the client's process tree. */
  helper?: HelperRunner;
  /** The state directory when the call names none (the server's own). */
  root?: string;
}

export async function ociCall(argv: string[], io: CallIO, o: CallOptions = {}): Promise<number> {
  const { globals, cmdAt } = splitGlobals(argv);
  const logFlag = flagStr(globals, "log");
  const log = logFlag === undefined ? undefined : callPath(io, logFlag);
  const json = flagStr(globals, "log-format") === "json";
  const report = (level: string, msg: string) => {
    if (!log) return;
    const line = json
      ? JSON.stringify({ level, msg, time: new Date().toISOString() })
      : `time="${new Date().toISOString()}" level=${level} msg="${msg}"`;
    try {
      appendFileSync(log, line + "\n");
    } catch {
      // the log is best effort
    }
  };
  try {
    if (flagBool(globals, "version")) {
      io.out(VERSION_TEXT);
      return 0;
    }
    if (cmdAt < 0 || flagBool(globals, "help")) {
      io.out(usage());
      return cmdAt < 0 && !flagBool(globals, "help") ? 2 : 0;
    }
    if (flagBool(globals, "systemd-cgroup"))
      throw new CorralError(
        "OCI_SYSTEMD_CGROUP",
        "--systemd-cgroup is not supported: Corral manages cgroupfs itself; configure the engine's cgroup manager as cgroupfs",
      );
    const name = argv[cmdAt] ?? "";
    const cmd = COMMANDS[name];
    if (!cmd)
      throw new CorralError("USAGE", `unknown command '${name}'; run 'corral oci --help' for the list`, {
        exitCode: 1,
      });
    const rest = argv.slice(cmdAt + 1);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(`Usage: corral oci ${cmd.usage}\n`);
      return 0;
    }
    const p = parseFlags(rest, cmd.flags, `corral oci ${name}`);
    const rootFlag = flagStr(globals, "root");
    const root = rootFlag === undefined ? o.root : callPath(io, rootFlag);
    const warn = (m: string) => {
      report("warning", m);
      io.err(`corral: warning: ${m}\n`);
    };
    const rt = new Runtime({ ...(root ? { root } : {}), warn, ...(o.helper ? { helper: o.helper } : {}) });
    return await cmd.run(rt, p, io);
  } catch (e) {
    report("error", isCorralError(e) ? e.message : String(e));
    // The runtime's error names no command: the hint names this front's.
    if (isCorralError(e) && e.code === "OCI_NOT_FOUND")
      throw new CorralError(e.code, `${e.message}; 'corral oci list' shows the containers`, {
        cause: e,
        exitCode: e.exitCode,
      });
    throw e;
  }
}

/** What the CLI prints for a failed call, and its exit status (as src/cli/main.ts reports errors). */
export { describeFailure } from "../../errors.js";
