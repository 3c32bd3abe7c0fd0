import { appendFileSync } from "node:fs";
import { CorralError, isCorralError } from "../errors.js";
import { COMMANDS } from "../containers/oci/commands.js";
import { flagBool, flagStr, parseFlags } from "../containers/oci/flags.js";
import { Runtime } from "../containers/runtime/runtime.js";

/**
 * `corral oci`: Corral's OCI runtime, command-line compatible with runc (global flags --root,
 * --log, --log-format, --debug; the runc command set), so podman and containerd can use it
 * through bin/corral-oci.
 */
const GLOBAL = [
  { names: ["root"], kind: "string" as const }, { names: ["log"], kind: "string" as const },
  { names: ["log-format"], kind: "string" as const }, { names: ["debug"], kind: "bool" as const },
  { names: ["systemd-cgroup"], kind: "bool" as const }, { names: ["rootless"], kind: "string" as const },
  { names: ["criu"], kind: "string" as const }, { names: ["version", "v"], kind: "bool" as const },
  { names: ["help", "h"], kind: "bool" as const },
];

export const VERSION_TEXT = "corral-oci version 0.1.0\nspec: 1.1.0\n";

function usage(): string {
  return `Usage: corral oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND [options] ID

Commands:
${Object.entries(COMMANDS).filter(([n]) => n !== "ls").map(([n, c]) => `  ${n.padEnd(9)} ${c.summary}`).join("\n")}
`;
}

export async function main(argv: string[]): Promise<number> {
  // Global flags come before the command, as with runc.
  const cmdAt = argv.findIndex((a, i) => !a.startsWith("-") && !["--root", "--log", "--log-format", "--rootless", "--criu"].includes(argv[i - 1] ?? ""));
  const globals = parseFlags(cmdAt < 0 ? argv : argv.slice(0, cmdAt), GLOBAL, "corral oci");
  const log = flagStr(globals, "log");
  const json = flagStr(globals, "log-format") === "json";
  const report = (level: string, msg: string) => {
    if (!log) return;
    const line = json ? JSON.stringify({ level, msg, time: new Date().toISOString() }) : `time="${new Date().toISOString()}" level=${level} msg="${msg}"`;
    try {
      appendFileSync(log, line + "\n");
    } catch {
      // the log is best effort
    }
  };
  try {
    if (flagBool(globals, "version")) {
      process.stdout.write(VERSION_TEXT);
      return 0;
    }
    if (cmdAt < 0 || flagBool(globals, "help")) {
      process.stdout.write(usage());
      return cmdAt < 0 && !flagBool(globals, "help") ? 2 : 0;
    }
    if (flagBool(globals, "systemd-cgroup"))
      throw new CorralError("OCI_SYSTEMD_CGROUP", "--systemd-cgroup is not supported: Corral manages cgroupfs itself; configure the engine's cgroup manager as cgroupfs");
    const name = argv[cmdAt] ?? "";
    const cmd = COMMANDS[name];
    if (!cmd) throw new CorralError("OCI_USAGE", `unknown command '${name}'; run 'corral oci --help' for the list`, { exitCode: 1 });
    const rest = argv.slice(cmdAt + 1);
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(`Usage: corral oci ${cmd.usage}\n`);
      return 0;
    }
    const p = parseFlags(rest, cmd.flags, `corral oci ${name}`);
    const root = flagStr(globals, "root");
    const rt = new Runtime({ ...(root ? { root } : {}), warn: (m) => { report("warning", m); process.stderr.write(`corral: warning: ${m}\n`); } });
    return await cmd.run(rt, p);
  } catch (e) {
    report("error", isCorralError(e) ? e.message : String(e));
    throw e;
  }
}
