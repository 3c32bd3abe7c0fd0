/** `corral exec NAME -- cmd ...`: run a command in a running VM through its guest agent. */
import { VmClient } from "../vm/client.js";
import { parseVerbArgs } from "../args.js";
import { DEFAULT_TTY_SIZE, type TtySize } from "../vm/tty.js";
import { CliError } from "./errors.js";

export const EXEC_USAGE = `Usage: corral exec [options] NAME -- command [args...]

Run a command in running VM NAME; its stdout and stderr come back separately and corral exits
with its exit status (137 when killed by --timeout).

Options:
  -i, --interactive   send this process's stdin to the command as it comes
  -t, --tty           run the command on a terminal in the guest, sized like this one (24x80
                      if this is none); stdout and stderr are then one stream. With -i and a
                      terminal here, keys go to the command as typed (Ctrl-C interrupts it)
  -e, --env K=V       set an environment variable (repeatable); with -t, TERM comes from here
  -w, --workdir DIR   working directory in the guest
  --timeout SECONDS   kill the command (not the VM) after this long
`;

/** Signals that end this process while attached: the terminal is restored first. */
const EXIT_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 } as const;

/** The host terminal's size, if stdout is a terminal that knows it. */
function hostSize(): TtySize | undefined {
  const out = process.stdout;
  return out.isTTY && out.rows > 0 && out.columns > 0 ? { rows: out.rows, cols: out.columns } : undefined;
}

export async function main(argv: string[]): Promise<number> {
  const sep = argv.indexOf("--");
  const head = sep >= 0 ? argv.slice(0, sep) : argv;
  const command = sep >= 0 ? argv.slice(sep + 1) : [];
  const { positionals, values } = parseVerbArgs("exec", head, {
    interactive: { type: "boolean", short: "i" },
    tty: { type: "boolean", short: "t" },
    env: { type: "string", short: "e", multiple: true },
    workdir: { type: "string", short: "w" },
    timeout: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(EXEC_USAGE);
    return 0;
  }
  const name = positionals[0];
  if (name === undefined || command.length === 0)
    throw new CliError("USAGE", "usage: corral exec NAME -- command [args...]", { exitCode: 2 });
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new CliError("USAGE", `--env '${kv}' must be NAME=VALUE`, { exitCode: 2 });
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (values.timeout !== undefined && !/^\d+(\.\d+)?$/.test(values.timeout))
    throw new CliError("USAGE", `--timeout must be seconds (got '${values.timeout}')`, { exitCode: 2 });
  const client = new VmClient(name);
  client.record();

  const tty = values.tty === true;
  const stdin = process.stdin;
  // Raw mode: every key goes to the guest as typed, and its terminal echoes and interprets them.
  const raw = tty && values.interactive === true && stdin.isTTY === true;
  const restore = (): void => {
    if (raw && stdin.isTTY) stdin.setRawMode(false);
  };
  const onSignal = (sig: keyof typeof EXIT_SIGNALS): void => {
    restore();
    process.exit(128 + EXIT_SIGNALS[sig]);
  };
  const signals = Object.keys(EXIT_SIGNALS) as (keyof typeof EXIT_SIGNALS)[];
  for (const s of signals) process.on(s, onSignal);
  process.once("exit", restore);
  if (raw) stdin.setRawMode(true);
  const onResize = (): void => {
    const size = hostSize();
    if (size) session.resize(size);
  };
  // Corral's own last line must start a line of its own even when the guest's stderr ended
  // mid-line (a fork bomb's shells interleave their messages), so scripts can match it.
  let stderrAtLineStart = true;
  const session = client.exec(
    {
      argv: command,
      env,
      ...(values.workdir !== undefined ? { cwd: values.workdir } : {}),
      ...(tty ? { tty: hostSize() ?? DEFAULT_TTY_SIZE } : {}),
      ...(values.timeout !== undefined ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
    },
    (fd, data) => {
      if (fd !== 1 && data.length > 0) stderrAtLineStart = data[data.length - 1] === 0x0a;
      (fd === 1 ? process.stdout : process.stderr).write(data);
    },
    // Chunk by chunk as they come: a line typed reaches the command before the next is.
    values.interactive ? stdin : undefined,
  );
  // The kernel's SIGWINCH for this terminal: Node reports it as stdout's 'resize'.
  if (tty) process.stdout.on("resize", onResize);
  try {
    const r = await session.result;
    if (!r.timedOut) return r.exitCode;
    // 137 (128 + SIGKILL) as documented, whatever status the guest reported: the command's first
    // process may have ended on its own (status 0) while the rest of its group (a fork bomb's)
    // ran on until the kill.
    process.stderr.write(
      (stderrAtLineStart ? "" : "\n") +
        (r.unconfirmed
          ? `corral: the command timed out after ${values.timeout ?? "?"} s; the guest did not confirm killing it (it may be overloaded: 'corral console ${name}' shows it)\n`
          : `corral: the command timed out after ${values.timeout ?? "?"} s and was killed\n`),
    );
    return 137;
  } finally {
    process.stdout.off("resize", onResize);
    for (const s of signals) process.off(s, onSignal);
    restore();
    // A stdin still open (a terminal, an unfinished pipe) must not keep this process alive.
    if (values.interactive) stdin.destroy();
  }
}
