import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { CorralError } from "../../errors.js";
import { Runtime } from "../runtime/runtime.js";
import { defaultConfig } from "../spec/defaults.js";
import { obj } from "../spec/read.js";
import { loadBundle, parseProcess } from "../spec/validate.js";
import type { Process } from "../spec/types.js";
import { flagBool, flagList, flagStr, parseDuration, type FlagSpec, type Parsed } from "./flags.js";
import { parseSignal } from "./signals.js";
import { callPath, type CallIO } from "./io.js";

/** One `corral oci` sub-command: its flags and what it does (runc's command set). */
export interface Command {
  summary: string;
  usage: string;
  flags: FlagSpec[];
  run(rt: Runtime, p: Parsed, io: CallIO): Promise<number>;
}

const f = (kind: FlagSpec["kind"], ...names: string[]): FlagSpec => ({ names, kind });
const CREATE_FLAGS = [
  f("string", "bundle", "b"),
  f("string", "console-socket"),
  f("string", "pid-file"),
  f("bool", "no-pivot"),
  f("bool", "no-new-keyring"),
  f("string", "preserve-fds"),
  f("bool", "no-subreaper"),
];

function oneId(p: Parsed, usage: string): string {
  const id = p.args[0];
  if (!id) throw new CorralError("USAGE", `missing container id; usage: ${usage}`, { exitCode: 1 });
  return id;
}

function createOpts(p: Parsed, io: CallIO) {
  const pf = flagStr(p, "preserve-fds");
  if (pf && pf !== "0") io.err("corral: warning: --preserve-fds is not supported; no extra descriptors are passed\n");
  const o: { bundle: string; consoleSocket?: string; pidFile?: string; noPivot: boolean } = {
    bundle: callPath(io, flagStr(p, "bundle") ?? "."),
    noPivot: flagBool(p, "no-pivot"),
  };
  const cs = flagStr(p, "console-socket");
  if (cs) o.consoleSocket = callPath(io, cs);
  const pid = flagStr(p, "pid-file");
  if (pid) o.pidFile = callPath(io, pid);
  return o;
}

/** runc exec's process: --process FILE, or the container's own process with flags applied. */
function execProcess(rt: Runtime, id: string, p: Parsed, io: CallIO): { proc: Process; seccomp: unknown } {
  const bundle = rt.stored(id).bundle;
  const spec = loadBundle(bundle).spec;
  const given = flagStr(p, "process");
  const file = given === undefined ? undefined : callPath(io, given);
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new CorralError("OCI_CONFIG_INVALID", `--process ${file} is not readable JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    return { proc: parseProcess(obj(doc, "process"), "process"), seccomp: spec.linux.seccomp };
  }
  const base = spec.process as Process;
  const args = p.args.slice(1);
  if (args.length === 0) throw new CorralError("USAGE", "exec needs a command (or --process FILE)", { exitCode: 1 });
  const proc: Process = { ...base, args, env: [...base.env, ...flagList(p, "env")], terminal: flagBool(p, "tty") };
  const cwd = flagStr(p, "cwd");
  if (cwd) proc.cwd = cwd;
  const user = flagStr(p, "user");
  if (user) {
    const [u, g] = user.split(":");
    proc.user = { ...proc.user, uid: Number(u), gid: Number(g ?? 0) };
  }
  const gids = flagList(p, "additional-gids").map(Number);
  if (gids.length > 0) proc.user = { ...proc.user, additionalGids: gids };
  if (flagBool(p, "no-new-privs")) proc.noNewPrivileges = true;
  const caps = flagList(p, "cap");
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
  create: {
    summary: "create a container (its process waits for 'start')",
    usage: "create [--bundle DIR] [--console-socket S] [--pid-file F] ID",
    flags: CREATE_FLAGS,
    async run(rt, p, io) {
      await rt.create(oneId(p, this.usage), { ...createOpts(p, io), detach: true });
      return 0;
    },
  },
  start: {
    summary: "run the user process of a created container",
    usage: "start ID",
    flags: [],
    async run(rt, p) {
      await rt.start(oneId(p, this.usage));
      return 0;
    },
  },
  run: {
    summary: "create and start a container",
    usage: "run [--bundle DIR] [--detach] [--keep] ID",
    flags: [...CREATE_FLAGS, f("bool", "detach", "d"), f("bool", "keep")],
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const detach = flagBool(p, "detach");
      const c = await rt.run(id, { ...createOpts(p, io), detach });
      if (detach) return 0;
      io.onSignal((sig) => void rt.kill(id, parseSignal(sig)).catch(() => undefined));
      const code = await c.exited;
      if (!flagBool(p, "keep")) await rt.delete(id, true);
      return code;
    },
  },
  state: {
    summary: "print the state of a container as JSON",
    usage: "state ID",
    flags: [],
    async run(rt, p, io) {
      io.out(JSON.stringify(rt.state(oneId(p, this.usage)), null, 2) + "\n");
      return 0;
    },
  },
  kill: {
    summary: "send a signal to a container's init (or all its processes)",
    usage: "kill [--all] ID [SIGNAL]",
    flags: [f("bool", "all", "a")],
    async run(rt, p) {
      await rt.kill(oneId(p, this.usage), parseSignal(p.args[1] ?? "TERM"), flagBool(p, "all"));
      return 0;
    },
  },
  delete: {
    summary: "delete a container and everything it holds",
    usage: "delete [--force] ID",
    flags: [f("bool", "force", "f")],
    async run(rt, p) {
      await rt.delete(oneId(p, this.usage), flagBool(p, "force"));
      return 0;
    },
  },
  exec: {
    summary: "run a process inside a container",
    usage: "exec [--process F] [--tty] [--detach] [--env K=V] [--cwd D] [--user U[:G]] ID CMD...",
    flags: [
      f("string", "process", "p"),
      f("string", "console-socket"),
      f("string", "cwd"),
      f("list", "env", "e"),
      f("bool", "tty", "t"),
      f("string", "user", "u"),
      f("list", "additional-gids", "g"),
      f("string", "process-label"),
      f("string", "apparmor"),
      f("bool", "no-new-privs"),
      f("list", "cap", "c"),
      f("bool", "detach", "d"),
      f("string", "pid-file"),
      f("string", "preserve-fds"),
      f("string", "cgroup"),
      f("bool", "ignore-paused"),
    ],
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const { proc, seccomp } = execProcess(rt, id, p, io);
      const detach = flagBool(p, "detach");
      const o: Parameters<Runtime["exec"]>[2] = { seccomp, detach };
      const cs = flagStr(p, "console-socket");
      if (cs) o.consoleSocket = callPath(io, cs);
      const pf = flagStr(p, "pid-file");
      if (pf) o.pidFile = callPath(io, pf);
      const c = await rt.exec(id, proc, o);
      return detach ? 0 : await c.exited;
    },
  },
  ps: {
    summary: "list the processes of a container",
    usage: "ps [--format table|json] ID [PS-ARGS...]",
    flags: [f("string", "format", "f")],
    async run(rt, p, io) {
      const pids = rt.ps(oneId(p, this.usage));
      if (flagStr(p, "format") === "json") {
        io.out(JSON.stringify(pids) + "\n");
        return 0;
      }
      const ps = spawnSync("ps", p.args.length > 1 ? p.args.slice(1) : ["-ef"], { encoding: "utf8" });
      const lines = ps.stdout.split("\n");
      const col = (lines[0] ?? "").trim().split(/\s+/).indexOf("PID");
      const keep = lines.slice(1).filter((l) => pids.includes(Number(l.trim().split(/\s+/)[col] ?? -1)));
      io.out([lines[0], ...keep].join("\n") + "\n");
      return 0;
    },
  },
  list: {
    summary: "list containers",
    usage: "list [--format table|json] [--quiet]",
    flags: [f("string", "format", "f"), f("bool", "quiet", "q")],
    async run(rt, p, io) {
      const all = rt.list();
      if (flagBool(p, "quiet")) io.out(all.map((s) => s.id + "\n").join(""));
      else if (flagStr(p, "format") === "json") io.out(JSON.stringify(all) + "\n");
      else
        io.out(
          table([
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
            ...all.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner || "root"]),
          ]),
        );
      return 0;
    },
  },
  events: {
    summary: "print container events (stats, oom) as JSON lines",
    usage: "events [--stats] [--interval 5s] ID",
    flags: [f("bool", "stats"), f("string", "interval")],
    async run(rt, p, io) {
      const id = oneId(p, this.usage);
      const emit = (type: string, data?: unknown) =>
        io.out(JSON.stringify({ type, id, ...(data === undefined ? {} : { data }) }) + "\n");
      if (flagBool(p, "stats")) {
        emit("stats", rt.cgroup(id).stats());
        return 0;
      }
      const every = parseDuration(flagStr(p, "interval") ?? "5s");
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
  },
  pause: {
    summary: "freeze every process of a container",
    usage: "pause ID",
    flags: [],
    async run(rt, p) {
      await rt.pause(oneId(p, this.usage));
      return 0;
    },
  },
  resume: {
    summary: "thaw a paused container",
    usage: "resume ID",
    flags: [],
    async run(rt, p) {
      await rt.resume(oneId(p, this.usage));
      return 0;
    },
  },
  spec: {
    summary: "write a default config.json",
    usage: "spec [--bundle DIR] [--rootless]",
    flags: [f("string", "bundle", "b"), f("bool", "rootless")],
    async run(_rt, p, io) {
      const file = join(callPath(io, flagStr(p, "bundle") ?? "."), "config.json");
      if (existsSync(file)) throw new CorralError("OCI_EXISTS", `${file} exists already; remove it first`);
      const config = defaultConfig(["sh"], { terminal: true });
      if (flagBool(p, "rootless")) rootlessConfig(config);
      writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
      return 0;
    },
  },
  features: {
    summary: "print what this runtime supports (JSON)",
    usage: "features",
    flags: [],
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
  },
};
COMMANDS["ls"] = COMMANDS["list"] as Command;
