import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { Runtime } from "../runtime/runtime.js";
import { defaultConfig } from "../spec/defaults.js";
import { obj } from "../spec/read.js";
import { loadBundle, parseProcess } from "../spec/validate.js";
import type { Process } from "../spec/types.js";
import { parseVerbArgs, usageError, type Args, type Options } from "../../args.js";
import { parseSignal } from "./signals.js";
import { callPath, type CallIO } from "./io.js";
import { ContainerError } from "../errors.js";

/** One `corral oci` sub-command (runc's command set): its flags parsed in runc's dialect, then run. */
export interface Command {
  summary: string;
  usage: string;
  /** Parse the command's arguments (a usage failure throws here, before any state is touched). */
  bind(argv: readonly string[], name: string): (rt: Runtime, io: CallIO) => Promise<number>;
}

interface CommandDef<O extends Options> {
  summary: string;
  usage: string;
  flags: O;
  run(rt: Runtime, p: Args<O>, io: CallIO): Promise<number>;
}

function command<const O extends Options>(d: CommandDef<O>): Command {
  return {
    summary: d.summary,
    usage: d.usage,
    bind(argv, name) {
      const p = parseVerbArgs(`oci ${name}`, argv, d.flags, { dialect: "runc" });
      return (rt, io) => d.run(rt, p, io);
    },
  };
}

const CREATE_FLAGS = {
  bundle: { type: "string", short: "b" },
  "console-socket": { type: "string" },
  "pid-file": { type: "string" },
  "no-pivot": { type: "boolean" },
  "no-new-keyring": { type: "boolean" },
  "preserve-fds": { type: "string" },
  "no-subreaper": { type: "boolean" },
} as const;

function oneId(p: { positionals: string[] }, usage: string): string {
  const id = p.positionals[0];
  if (!id) throw usageError(`missing container id; usage: ${usage}`, 1);
  return id;
}

function createOpts(p: Args<typeof CREATE_FLAGS>, io: CallIO) {
  const pf = p.values["preserve-fds"];
  if (pf && pf !== "0") io.err("corral: warning: --preserve-fds is not supported; no extra descriptors are passed\n");
  const o: { bundle: string; consoleSocket?: string; pidFile?: string; noPivot: boolean } = {
    bundle: callPath(io, p.values.bundle ?? "."),
    noPivot: p.values["no-pivot"] === true,
  };
  const cs = p.values["console-socket"];
  if (cs) o.consoleSocket = callPath(io, cs);
  const pid = p.values["pid-file"];
  if (pid) o.pidFile = callPath(io, pid);
  return o;
}

const EXEC_FLAGS = {
  process: { type: "string", short: "p" },
  "console-socket": { type: "string" },
  cwd: { type: "string" },
  env: { type: "string", multiple: true, short: "e" },
  tty: { type: "boolean", short: "t" },
  user: { type: "string", short: "u" },
  "additional-gids": { type: "string", multiple: true, short: "g" },
  "process-label": { type: "string" },
  apparmor: { type: "string" },
  "no-new-privs": { type: "boolean" },
  cap: { type: "string", multiple: true, short: "c" },
  detach: { type: "boolean", short: "d" },
  "pid-file": { type: "string" },
  "preserve-fds": { type: "string" },
  cgroup: { type: "string" },
  "ignore-paused": { type: "boolean" },
} as const;

/** Go duration strings as runc's --interval takes them: "5s", "500ms", "1m". */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
  if (!m) throw usageError(`'${s}' is not a duration; use e.g. 5s or 500ms`, 1);
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] ?? "s"] ?? 1000;
  return Number(m[1]) * unit;
}

/** runc exec's process: --process FILE, or the container's own process with flags applied. */
function execProcess(
  rt: Runtime,
  id: string,
  p: Args<typeof EXEC_FLAGS>,
  io: CallIO,
): { proc: Process; seccomp: unknown } {
  const bundle = rt.stored(id).bundle;
  const spec = loadBundle(bundle).spec;
  const given = p.values.process;
  const file = given === undefined ? undefined : callPath(io, given);
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new ContainerError(
        "OCI_CONFIG_INVALID",
        `--process ${file} is not readable JSON (${(e as Error).message})`,
        {
          cause: e,
        },
      );
    }
    return { proc: parseProcess(obj(doc, "process"), "process"), seccomp: spec.linux.seccomp };
  }
  const base = spec.process as Process;
  const args = p.positionals.slice(1);
  if (args.length === 0) throw usageError("exec needs a command (or --process FILE)", 1);
  const proc: Process = { ...base, args, env: [...base.env, ...(p.values.env ?? [])], terminal: p.values.tty === true };
  const cwd = p.values.cwd;
  if (cwd) proc.cwd = cwd;
  const user = p.values.user;
  if (user) {
    const [u, g] = user.split(":");
    proc.user = { ...proc.user, uid: Number(u), gid: Number(g ?? 0) };
  }
  const gids = (p.values["additional-gids"] ?? []).map(Number);
  if (gids.length > 0) proc.user = { ...proc.user, additionalGids: gids };
  if (p.values["no-new-privs"] === true) proc.noNewPrivileges = true;
  const caps = p.values.cap ?? [];
  if (caps.length > 0 && proc.capabilities && typeof proc.capabilities === "object") {
    const c = proc.capabilities as Record<string, string[]>;
    proc.capabilities = Object.fromEntries(
      Object.entries(c).map(([k, v]) => [k, k === "inheritable" ? v : [...v, ...caps]]),
    );
  }
  return { proc, seccomp: spec.linux.seccomp };
}

/**
 * runc spec --rootless: a user namespace mapping the caller to root, and devpts without gid=5
 * (no such group is mapped). The runtime makes the same changes itself when run rootless.
 */
function rootlessConfig(c: Record<string, unknown>): void {
  const linux = c["linux"] as Record<string, unknown>;
  (linux["namespaces"] as unknown[]).push({ type: "user" });
  linux["uidMappings"] = [{ containerID: 0, hostID: process.geteuid?.() ?? 0, size: 1 }];
  linux["gidMappings"] = [{ containerID: 0, hostID: process.getegid?.() ?? 0, size: 1 }];
  for (const m of c["mounts"] as { type: string; options: string[] }[])
    if (m.type === "devpts") m.options = m.options.filter((o) => !o.startsWith("gid="));
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return (
    rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join("")).join("\n") +
    "\n"
  );
}

export const COMMANDS: Record<string, Command> = {
  create: command({
    summary: "create a container (its process waits for 'start')",
    usage: "create [--bundle DIR] [--console-socket S] [--pid-file F] ID",
    flags: CREATE_FLAGS,
    async run(rt, p, io) {
      await rt.create(oneId(p, this.usage), { ...createOpts(p, io), detach: true });
      return 0;
    },
  }),
  start: command({
    summary: "run the user process of a created container",
    usage: "start ID",
    flags: {},
    async run(rt, p) {
      await rt.start(oneId(p, this.usage));
      return 0;
    },
  }),
  run: command({
    summary: "create and start a container",
    usage: "run [--bundle DIR] [--detach] [--keep] ID",
    flags: { ...CREATE_FLAGS, detach: { type: "boolean", short: "d" }, keep: { type: "boolean" } },
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const detach = p.values.detach === true;
      const c = await rt.run(id, { ...createOpts(p, io), detach });
      if (detach) return 0;
      io.onSignal((sig) => void rt.kill(id, parseSignal(sig)).catch(() => undefined));
      const code = await c.exited;
      if (!p.values.keep === true) await rt.delete(id, true);
      return code;
    },
  }),
  state: command({
    summary: "print the state of a container as JSON",
    usage: "state ID",
    flags: {},
    async run(rt, p, io) {
      io.out(JSON.stringify(rt.state(oneId(p, this.usage)), null, 2) + "\n");
      return 0;
    },
  }),
  kill: command({
    summary: "send a signal to a container's init (or all its processes)",
    usage: "kill [--all] ID [SIGNAL]",
    flags: { all: { type: "boolean", short: "a" } },
    async run(rt, p) {
      await rt.kill(oneId(p, this.usage), parseSignal(p.positionals[1] ?? "TERM"), p.values.all === true);
      return 0;
    },
  }),
  delete: command({
    summary: "delete a container and everything it holds",
    usage: "delete [--force] ID",
    flags: { force: { type: "boolean", short: "f" } },
    async run(rt, p) {
      await rt.delete(oneId(p, this.usage), p.values.force === true);
      return 0;
    },
  }),
  exec: command({
    summary: "run a process inside a container",
    usage: "exec [--process F] [--tty] [--detach] [--env K=V] [--cwd D] [--user U[:G]] ID CMD...",
    flags: EXEC_FLAGS,
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const { proc, seccomp } = execProcess(rt, id, p, io);
      const detach = p.values.detach === true;
      const o: Parameters<Runtime["exec"]>[2] = { seccomp, detach };
      const cs = p.values["console-socket"];
      if (cs) o.consoleSocket = callPath(io, cs);
      const pf = p.values["pid-file"];
      if (pf) o.pidFile = callPath(io, pf);
      const c = await rt.exec(id, proc, o);
      return detach ? 0 : await c.exited;
    },
  }),
  ps: command({
    summary: "list the processes of a container",
    usage: "ps [--format table|json] ID [PS-ARGS...]",
    flags: { format: { type: "string", short: "f" } },
    async run(rt, p, io) {
      const pids = rt.ps(oneId(p, this.usage));
      if (p.values.format === "json") {
        io.out(JSON.stringify(pids) + "\n");
        return 0;
      }
      const ps = spawnSync("ps", p.positionals.length > 1 ? p.positionals.slice(1) : ["-ef"], { encoding: "utf8" });
      const lines = ps.stdout.split("\n");
      const col = (lines[0] ?? "").trim().split(/\s+/).indexOf("PID");
      const keep = lines.slice(1).filter((l) => pids.includes(Number(l.trim().split(/\s+/)[col] ?? -1)));
      io.out([lines[0], ...keep].join("\n") + "\n");
      return 0;
    },
  }),
  list: command({
    summary: "list containers",
    usage: "list [--format table|json] [--quiet]",
    flags: { format: { type: "string", short: "f" }, quiet: { type: "boolean", short: "q" } },
    async run(rt, p, io) {
      const all = rt.list();
      if (p.values.quiet === true) io.out(all.map((s) => s.id + "\n").join(""));
      else if (p.values.format === "json") io.out(JSON.stringify(all) + "\n");
      else
        io.out(
          table([
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
            ...all.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner || "root"]),
          ]),
        );
      return 0;
    },
  }),
  events: command({
    summary: "print container events (stats, oom) as JSON lines",
    usage: "events [--stats] [--interval 5s] ID",
    flags: { stats: { type: "boolean" }, interval: { type: "string" } },
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const emit = (type: string, data?: unknown) =>
        io.out(JSON.stringify({ type, id, ...(data === undefined ? {} : { data }) }) + "\n");
      if (p.values.stats === true) {
        emit("stats", rt.cgroup(id).stats());
        return 0;
      }
      const every = parseDuration(p.values.interval ?? "5s");
      let ooms = rt.cgroup(id).oomKills();
      for (;;) {
        if (io.gone() || rt.state(id).status === "stopped") return 0;
        const n = rt.cgroup(id).oomKills();
        if (n > ooms) emit("oom");
        ooms = n;
        emit("stats", rt.cgroup(id).stats());
        await new Promise((r) => setTimeout(r, every));
      }
    },
  }),
  pause: command({
    summary: "freeze every process of a container",
    usage: "pause ID",
    flags: {},
    async run(rt, p) {
      await rt.pause(oneId(p, this.usage));
      return 0;
    },
  }),
  resume: command({
    summary: "thaw a paused container",
    usage: "resume ID",
    flags: {},
    async run(rt, p) {
      await rt.resume(oneId(p, this.usage));
      return 0;
    },
  }),
  spec: command({
    summary: "write a default config.json",
    usage: "spec [--bundle DIR] [--rootless]",
    flags: { bundle: { type: "string", short: "b" }, rootless: { type: "boolean" } },
    async run(_rt, p, io) {
      const file = join(callPath(io, p.values.bundle ?? "."), "config.json");
      if (existsSync(file)) throw new ContainerError("OCI_EXISTS", `${file} exists already; remove it first`);
      const config = defaultConfig(["sh"], { terminal: true });
      if (p.values.rootless === true) rootlessConfig(config);
      writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
      return 0;
    },
  }),
  features: command({
    summary: "print what this runtime supports (JSON)",
    usage: "features",
    flags: {},
    async run(_rt, _p, io) {
      const features = {
        ociVersionMin: "1.0.0",
        ociVersionMax: "1.1.0",
        hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        mountOptions: [
          "ro",
          "rw",
          "bind",
          "rbind",
          "nosuid",
          "nodev",
          "noexec",
          "private",
          "rprivate",
          "slave",
          "rslave",
          "shared",
          "rshared",
        ],
        linux: {
          namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
          capabilities: [],
          cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
          seccomp: {
            enabled: true,
            actions: [
              "SCMP_ACT_ALLOW",
              "SCMP_ACT_ERRNO",
              "SCMP_ACT_KILL",
              "SCMP_ACT_TRAP",
              "SCMP_ACT_TRACE",
              "SCMP_ACT_LOG",
            ],
          },
          apparmor: { enabled: false },
          selinux: { enabled: false },
        },
      };
      io.out(JSON.stringify(features, null, 2) + "\n");
      return 0;
    },
  }),
};
COMMANDS["ls"] = COMMANDS["list"] as Command;
