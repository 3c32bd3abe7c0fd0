import { appendFileSync } from "node:fs";
import { CorralError, isCorralError } from "../../errors.js";
import type { HelperRunner } from "../runtime/helper.js";
import { Runtime } from "../runtime/runtime.js";
import { COMMANDS } from "./commands.js";
import { parseGlobalArgs, usageError, type Args } from "../../args.js";
import { callPath, type CallIO } from "./io.js";
import { ContainerError } from "../errors.js";

/**
 * One `corral oci` call (runc's command line: global flags --root, --log, --log-format, --debug,
 * then the command), with the caller's I/O given: the CLI and the resident server both run it.
 */
const GLOBAL = {
  root: { type: "string" },
  log: { type: "string" },
  "log-format": { type: "string" },
  debug: { type: "boolean" },
  "systemd-cgroup": { type: "boolean" },
  rootless: { type: "string" },
  criu: { type: "string" },
  version: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const;

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

/** runc's global flags (before the command), the command and its arguments. */
export function splitGlobals(argv: readonly string[]): {
  globals: Args<typeof GLOBAL>["values"];
  command: string | undefined;
  rest: string[];
} {
  const { values, command, rest } = parseGlobalArgs("oci", argv, GLOBAL);
  return { globals: values, command, rest };
}

export interface CallOptions {
  /** The resident server's: the helper runs in the client's process tree. */
  helper?: HelperRunner;
  /** The state directory when the call names none (the server's own). */
  root?: string;
}

export async function ociCall(argv: string[], io: CallIO, o: CallOptions = {}): Promise<number> {
  const { globals, command: name, rest } = splitGlobals(argv);
  const logFlag = globals.log;
  const log = logFlag === undefined ? undefined : callPath(io, logFlag);
  const json = globals["log-format"] === "json";
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
    if (globals.version === true) {
      io.out(VERSION_TEXT);
      return 0;
    }
    if (name === undefined || globals.help === true) {
      io.out(usage());
      return name === undefined && !globals.help === true ? 2 : 0;
    }
    if (globals["systemd-cgroup"] === true)
      throw new ContainerError(
        "OCI_SYSTEMD_CGROUP",
        "--systemd-cgroup is not supported: Corral manages cgroupfs itself; configure the engine's cgroup manager as cgroupfs",
      );
    const cmd = COMMANDS[name];
    if (!cmd) throw usageError(`unknown command '${name}'; run 'corral oci --help' for the list`, 1);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(`Usage: corral oci ${cmd.usage}\n`);
      return 0;
    }
    const run = cmd.bind(rest, name);
    const rootFlag = globals.root;
    const root = rootFlag === undefined ? o.root : callPath(io, rootFlag);
    const warn = (m: string) => {
      report("warning", m);
      io.err(`corral: warning: ${m}\n`);
    };
    const rt = new Runtime({ ...(root ? { root } : {}), warn, ...(o.helper ? { helper: o.helper } : {}) });
    return await run(rt, io);
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
