import { join, resolve } from "node:path";
import type { StdioOptions } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { CorralError } from "../../errors.js";
import { cgroupPath, detectLayout, NO_CGROUP, openCgroup, removeCgroup, type Cgroup } from "../cgroups/index.js";
import { loadBundle } from "../spec/validate.js";
import type { Process, Spec } from "../spec/types.js";
import { runHooks } from "./hooks.js";
import { runHelper, type HelperRunner } from "./helper.js";
import { createPlan, execPlan } from "./plan.js";
import { securityFor, warnMountLabel } from "./security.js";
import { alive, procStat, StateStore, type OciState, type Status, type StoredState } from "./state.js";
import { openFifoForStart } from "./fifo.js";
import { mkfifo } from "../../sys/fs.js";
import {
  cgroupWritable,
  checkUserNamespaces,
  defaultRoot,
  isRootless,
  pidsInNamespaceOf,
  rootlessSpec,
  type IdMapTools,
} from "./rootless.js";
import { ContainerError } from "../errors.js";

export interface RuntimeOptions {
  /** State directory (runc --root; default /run/corral-oci, or $XDG_RUNTIME_DIR/corral-oci rootless). */
  root?: string;
  warn?: (message: string) => void;
  /** Who starts the native helper (default: a child of this process; the resident server's client otherwise). */
  helper?: HelperRunner;
}

export interface CreateOptions {
  bundle: string;
  consoleSocket?: string;
  pidFile?: string;
  noPivot?: boolean;
  /** Stdio of the container process (default: this process's). */
  stdio?: StdioOptions;
  /**
   * true (the CLI's create): the helper leaves once the container is set up, and the caller's
   * subreaper adopts the container. false (in-process): the helper stays as its monitor and
   * `exited` resolves with the exit status.
   */
  detach?: boolean;
  /** Replace the bundle's config (the `container` front end builds its own). */
  spec?: Spec;
  rootfs?: string;
  extra?: Record<string, string>;
}

export interface Created {
  id: string;
  pid: number;
  /** Exit status of the container process; for a detached create, resolves when set up. */
  exited: Promise<number>;
}

/**
 * Corral's OCI runtime (OCI runtime spec, runtime.md "Operations"): create, start, state, kill,
 * delete, plus runc's run, exec, ps, pause, resume and stats.
 */
export class Runtime {
  readonly store: StateStore;
  private readonly warn: (m: string) => void;
  private readonly helper: HelperRunner;

  constructor(opts: RuntimeOptions = {}) {
    this.store = new StateStore(opts.root ?? defaultRoot());
    this.warn = opts.warn ?? ((m) => void process.stderr.write(`corral: warning: ${m}\n`));
    this.helper = opts.helper ?? runHelper;
  }

  /** runtime.md "create": everything but the user's program, which waits for `start`. */
  create(id: string, o: CreateOptions): Promise<Created> {
    return this.launch(id, o, true);
  }

  /** create + start without the FIFO round trip when no hook needs the gap between them. */
  async run(id: string, o: CreateOptions): Promise<Created> {
    const spec = o.spec ?? loadBundle(o.bundle).spec;
    const h = spec.hooks;
    const needsGap =
      h.prestart.length + h.createRuntime.length + h.createContainer.length + h.startContainer.length > 0;
    if (needsGap) {
      const c = await this.launch(id, { ...o, spec }, true);
      await this.start(id);
      return c;
    }
    const c = await this.launch(id, { ...o, spec }, false);
    await runHooks("poststart", h.poststart, this.state(id), false, this.warn);
    return c;
  }

  private async launch(id: string, o: CreateOptions, withFifo: boolean): Promise<Created> {
    const bundle = o.spec
      ? { dir: o.bundle, spec: o.spec, rootfs: o.rootfs ?? resolve(o.bundle, o.spec.root.path) }
      : loadBundle(o.bundle);
    let { spec } = bundle;
    let idTools: IdMapTools = {};
    const rootless = isRootless();
    if (rootless) {
      checkUserNamespaces();
      ({ spec, tools: idTools } = rootlessSpec(spec));
    }
    const proc = spec.process as Process;
    const security = securityFor(proc, spec.linux.seccomp, this.warn);
    warnMountLabel(spec.linux.mountLabel, this.warn);
    const layout = detectLayout();
    let cgPath = cgroupPath(id, spec.linux.cgroupsPath);
    if (rootless && !cgroupWritable(openCgroup(cgPath, layout).dirs())) {
      // runc and crun do the same rootless: no cgroup rather than no container.
      const limits = Object.entries(spec.linux.resources)
        .filter(
          ([k, v]) => k !== "devices" && v !== undefined && !(typeof v === "object" && Object.keys(v).length === 0),
        )
        .map(([k]) => k);
      this.warn(
        `no writable cgroup for ${cgPath} (rootless without a delegated cgroup): running without cgroups${limits.length ? `; linux.resources ${limits.join(", ")} ignored` : ""}`,
      );
      cgPath = NO_CGROUP;
    }
    const stateDir = this.store.reserve(id);
    const cg = openCgroup(cgPath, layout);
    let created: string[] = [];
    let pid = 0;
    try {
      created = cg.create();
      if (spec.linux.cgroupsPath === undefined) created.push(...cg.dirs().map((d) => join(d, "..")));
      cg.apply(spec.linux.resources, spec.linux.devices);
      if (withFifo) {
        // Writable by the container's root even when it is an unprivileged uid on the host.
        mkfifo(join(stateDir, "exec.fifo"), 0o622);
        chmodSync(join(stateDir, "exec.fifo"), 0o622);
      }
      const plan = createPlan({
        spec,
        bundleDir: bundle.dir,
        rootfs: bundle.rootfs,
        cgroupProcs: cg.procsFiles(),
        cgroupDirs: cg.dirs().map((d) => ({ mount: d.slice(0, d.length - cgPath.length), dir: d })),
        ...(withFifo ? { stateDir } : {}),
        ...(o.consoleSocket ? { consoleSocket: o.consoleSocket } : {}),
        detach: o.detach ?? false,
        noPivot: o.noPivot ?? false,
        security,
        rootless,
        idTools,
      });
      const h = this.helper(plan, o.stdio ?? "inherit");
      h.pid.then(
        (p) => {
          pid = p;
        },
        () => undefined,
      );
      await h.ready;
      pid = await h.pid;
      const st: StoredState = {
        ociVersion: spec.ociVersion,
        id,
        pid,
        pidStartTime: procStat(pid)?.startTime ?? "",
        bundle: bundle.dir,
        rootfs: bundle.rootfs,
        created: new Date().toISOString(),
        owner: "",
        annotations: spec.annotations,
        cgroupPath: cgPath,
        cgroupCreated: created,
        namespaces: spec.linux.namespaces.map((n) => n.type),
        hooks: spec.hooks,
        ...(o.extra ? { extra: o.extra } : {}),
      };
      this.store.save(st);
      if (o.pidFile) writeFileSync(o.pidFile, String(pid));
      const state = this.state(id);
      await runHooks("prestart", spec.hooks.prestart, state, true, this.warn);
      await runHooks("createRuntime", spec.hooks.createRuntime, state, true, this.warn);
      return { id, pid, exited: h.exit };
    } catch (e) {
      // Nothing stays behind after a failed create: process, cgroups, state.
      await this.destroy(id, cg, created, pid);
      throw rootless ? explainRootless(e) : e;
    }
  }

  private async destroy(id: string, cg: Cgroup, created: string[], pid: number): Promise<void> {
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await killAll(cg);
    try {
      await removeCgroup(cg, created);
    } finally {
      this.store.remove(id);
    }
  }

  /**
   * Remove the cgroup of a container that has stopped, before delete (which still removes it if
   * this never ran). runc keeps it until delete, and engines read it after the exit, so only the
   * `corral container` front calls this. Returns false while the container is not stopped.
   */
  async releaseCgroup(id: string): Promise<boolean> {
    const st = this.store.load(id);
    if (this.status(st) !== "stopped") return false;
    if (st.cgroupReleased) return true;
    const cg = openCgroup(st.cgroupPath);
    await killAll(cg);
    await removeCgroup(cg, st.cgroupCreated);
    this.store.save({ ...st, cgroupReleased: true });
    return true;
  }

  /** runtime.md "start": let the waiting process exec the user's program. */
  async start(id: string): Promise<void> {
    const st = this.store.load(id);
    const status = this.status(st);
    if (status !== "created")
      throw new ContainerError(
        "OCI_NOT_CREATED",
        `container '${id}' is ${status}, not created; only a created container can be started`,
      );
    await openFifoForStart(join(this.store.dir(id), "exec.fifo"), () => alive(st.pid, st.pidStartTime));
    await runHooks("poststart", st.hooks.poststart, this.state(id), false, this.warn);
  }

  status(st: StoredState): Status {
    if (!alive(st.pid, st.pidStartTime)) return "stopped";
    if (existsFifo(this.store.dir(st.id))) return "created";
    return openCgroup(st.cgroupPath).frozen() ? "paused" : "running";
  }

  state(id: string): OciState {
    const st = this.store.load(id);
    const status = this.status(st);
    const s: OciState = {
      ociVersion: st.ociVersion,
      id: st.id,
      pid: status === "stopped" ? 0 : st.pid,
      status,
      bundle: st.bundle,
      rootfs: st.rootfs,
      created: st.created,
      owner: st.owner,
    };
    if (Object.keys(st.annotations).length > 0) s.annotations = st.annotations;
    return s;
  }

  list(): OciState[] {
    const out: OciState[] = [];
    for (const id of this.store.ids()) {
      try {
        out.push(this.state(id));
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }

  stored(id: string): StoredState {
    return this.store.load(id);
  }

  cgroup(id: string): Cgroup {
    return openCgroup(this.store.load(id).cgroupPath);
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    const st = this.store.load(id);
    const status = this.status(st);
    if (status === "stopped")
      throw new ContainerError("OCI_NOT_RUNNING", `container '${id}' is not running; nothing to signal`);
    const pids = all ? this.ps(id) : [st.pid];
    for (const p of pids) {
      try {
        process.kill(p, signal);
      } catch {
        // exited meanwhile
      }
    }
  }

  /** runtime.md "delete": a running container needs force (runc's --force). */
  async delete(id: string, force = false): Promise<void> {
    let st: StoredState;
    try {
      st = this.store.load(id);
    } catch (e) {
      // Like runc: a forced delete of a container that is already gone succeeds.
      if (force) {
        this.store.remove(id);
        return;
      }
      throw e;
    }
    const status = this.status(st);
    if ((status === "running" || status === "paused") && !force)
      throw new ContainerError(
        "CONTAINER_RUNNING",
        `container '${id}' is ${status}; stop it first or delete it with --force`,
      );
    const cg = openCgroup(st.cgroupPath);
    if (status === "paused") await cg.thaw();
    const state = this.state(id);
    await this.destroy(id, cg, st.cgroupCreated, status === "stopped" ? 0 : st.pid);
    await runHooks("poststop", st.hooks.poststop, { ...state, status: "stopped" }, false, this.warn);
  }

  /** runc exec: a new process in the container's namespaces and cgroup. */
  async exec(
    id: string,
    proc: Process,
    o: { seccomp?: unknown; consoleSocket?: string; pidFile?: string; detach?: boolean; stdio?: StdioOptions } = {},
  ): Promise<Created> {
    const st = this.store.load(id);
    const status = this.status(st);
    if (status !== "running" && status !== "created")
      throw new ContainerError("OCI_NOT_RUNNING", `container '${id}' is ${status}; exec needs a running container`);
    const cg = openCgroup(st.cgroupPath);
    const plan = execPlan({
      process: proc,
      initPid: st.pid,
      namespaces: st.namespaces,
      cgroupProcs: cg.procsFiles(),
      detach: o.detach ?? false,
      security: securityFor(proc, o.seccomp, this.warn),
      ...(o.consoleSocket ? { consoleSocket: o.consoleSocket } : {}),
    });
    const h = this.helper(plan, o.stdio ?? "inherit");
    await h.ready;
    const pid = await h.pid;
    if (o.pidFile) writeFileSync(o.pidFile, String(pid));
    return { id, pid, exited: h.exit };
  }

  ps(id: string): number[] {
    const st = this.store.load(id);
    if (st.cgroupPath === NO_CGROUP) return alive(st.pid, st.pidStartTime) ? pidsInNamespaceOf(st.pid) : [];
    return openCgroup(st.cgroupPath).pids();
  }

  async pause(id: string): Promise<void> {
    const st = this.store.load(id);
    if (this.status(st) !== "running")
      throw new ContainerError(
        "OCI_NOT_RUNNING",
        `container '${id}' is not running; only a running container can be paused`,
      );
    await openCgroup(st.cgroupPath).freeze();
  }

  async resume(id: string): Promise<void> {
    const st = this.store.load(id);
    if (this.status(st) !== "paused") throw new ContainerError("OCI_NOT_PAUSED", `container '${id}' is not paused`);
    await openCgroup(st.cgroupPath).thaw();
  }
}

/** A helper failure that only a rootless caller meets gets the reason said plainly. */
function explainRootless(e: unknown): unknown {
  if (!(e instanceof CorralError) || e.code !== "OCI_CONTAINER_START_FAILED") return e;
  if (/clone with flags.*(No space left|Operation not permitted)/.test(e.message))
    return new ContainerError(
      "OCI_USERNS_DISABLED",
      `the kernel refused an unprivileged user namespace (${e.message.replace(/^container set-up failed: /, "")}); check sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone, or run as root`,
      { cause: e },
    );
  return e;
}

function existsFifo(dir: string): boolean {
  return existsSync(join(dir, "exec.fifo"));
}

/** SIGKILL every process in the cgroup and wait until it is empty. */
export async function killAll(cg: Cgroup): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const pids = cg.pids();
    if (pids.length === 0) return;
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, i < 20 ? 1 : 10));
  }
  throw new ContainerError(
    "OCI_KILL_FAILED",
    "processes of the container survived SIGKILL for 5 s; check for tasks stuck in the kernel (D state)",
  );
}
