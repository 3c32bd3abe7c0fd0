/** `corral exec NAME -- cmd ...`: run a command in a running VM through its guest agent. */
import { parseArgs } from "node:util";
import { CorralError } from "../errors.js";
import { VmClient } from "../vm/client.js";

export const EXEC_USAGE = `Usage: corral exec [options] NAME -- command [args...]

Run a command in running VM NAME; its stdout and stderr come back separately and corral exits
with its exit status (137 when killed by --timeout).

Options:
  -i, --interactive   send this process's stdin to the command (read to its end first)
  -e, --env K=V       set an environment variable (repeatable)
  -w, --workdir DIR   working directory in the guest
  --timeout SECONDS   kill the command (not the VM) after this long
`;

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function main(argv: string[]): Promise<number> {
  const sep = argv.indexOf("--");
  const head = sep >= 0 ? argv.slice(0, sep) : argv;
  const command = sep >= 0 ? argv.slice(sep + 1) : [];
  const { positionals, values } = parseArgs({
    args: head,
    allowPositionals: true,
    options: {
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
      env: { type: "string", short: "e", multiple: true },
      workdir: { type: "string", short: "w" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(EXEC_USAGE);
    return 0;
  }
  const name = positionals[0];
  if (name === undefined || command.length === 0) throw new CorralError("BAD_ARGS", "usage: corral exec NAME -- command [args...]", { exitCode: 2 });
  if (values.tty) throw new CorralError("NOT_SUPPORTED", "exec -t (a TTY) is not supported yet: use 'corral console NAME' for an interactive shell", { exitCode: 2 });
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new CorralError("BAD_ARGS", `--env '${kv}' must be NAME=VALUE`, { exitCode: 2 });
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (values.timeout !== undefined && !/^\d+(\.\d+)?$/.test(values.timeout)) throw new CorralError("BAD_ARGS", `--timeout must be seconds (got '${values.timeout}')`, { exitCode: 2 });
  const client = new VmClient(name);
  client.record();
  const stdin = values.interactive ? await readStdin() : undefined;
  const r = await client.exec(
    {
      argv: command,
      env,
      ...(values.workdir !== undefined ? { cwd: values.workdir } : {}),
      ...(stdin !== undefined ? { stdin: stdin.toString("base64") } : {}),
      ...(values.timeout !== undefined ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
    },
    (fd, data) => (fd === 1 ? process.stdout : process.stderr).write(data),
  );
  if (r.timedOut) process.stderr.write(`corral: the command timed out after ${values.timeout ?? "?"} s and was killed\n`);
  return r.exitCode;
}
