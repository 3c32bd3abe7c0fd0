import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Hooks, NamespaceType } from "../spec/types.js";
import { ContainerError } from "../errors.js";

/** What Corral keeps per container in <root>/<id>/state.json. */
export interface StoredState {
  ociVersion: string;
  id: string;
  pid: number;
  /** /proc/<pid>/stat field 22: tells the process from a later one that reused its PID. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
  cgroupPath: string;
  /** Directories Corral created for the cgroup (parents included), removed on delete. */
  cgroupCreated: string[];
  /** The cgroup was removed when the container exited (`corral container`), before delete. */
  cgroupReleased?: boolean;
  namespaces: NamespaceType[];
  hooks: Hooks;
  /** Set by `corral container`: network and overlay to tear down on delete. */
  extra?: Record<string, string>;
}

export type Status = "creating" | "created" | "running" | "stopped" | "paused";

/** The state JSON `runc state` prints (OCI runtime.md "State" plus runc's extra fields). */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export const DEFAULT_ROOT = "/run/corral-oci";
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

export function checkId(id: string): void {
  if (!ID_RE.test(id))
    throw new ContainerError("OCI_BAD_ID", `container id '${id}' is invalid; use letters, digits and . _ + -`);
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Reserve a container id: its directory must not exist yet. */
  reserve(id: string): string {
    checkId(id);
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o711 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new ContainerError(
        "OCI_STATE_FAILED",
        `cannot create the state directory ${this.root} (${code}); pass --root with a directory you can write`,
        { cause: e },
      );
    }
    const d = this.dir(id);
    try {
      mkdirSync(d, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST")
        throw new ContainerError(
          "CONTAINER_EXISTS",
          `a container named '${id}' already exists; delete it or pick another id`,
        );
      throw e;
    }
    return d;
  }

  save(s: StoredState): void {
    const tmp = join(this.dir(s.id), "state.json.tmp");
    writeFileSync(tmp, JSON.stringify(s));
    renameSync(tmp, join(this.dir(s.id), "state.json"));
  }

  load(id: string): StoredState {
    checkId(id);
    try {
      return JSON.parse(readFileSync(join(this.dir(id), "state.json"), "utf8")) as StoredState;
    } catch {
      throw new ContainerError("OCI_NOT_FOUND", `container '${id}' does not exist`, { exitCode: 1 });
    }
  }

  ids(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((id) => existsSync(join(this.root, id, "state.json")))
      .sort();
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }
}

/** /proc/<pid>/stat: state letter and start time, or undefined when the process is gone. */
export function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const after = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: after[0] ?? "?", startTime: after[19] ?? "" };
  } catch {
    return undefined;
  }
}

/** Alive means: exists, is the same process as recorded, and is not a zombie. */
export function alive(pid: number, startTime: string): boolean {
  if (pid <= 0) return false;
  const st = procStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== "Z" && st.state !== "X";
}
