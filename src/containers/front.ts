import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CorralError } from "../errors.js";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mountOverlay, removeOverlay, unmountOverlay } from "./image/overlay.js";
import { resolveImage, stateDir } from "./image/store.js";
import { cleanupNetwork, setupNetwork, type NetworkMode } from "./net/index.js";
import { Runtime, type Created } from "./runtime/runtime.js";
import { checkId, type OciState } from "./runtime/state.js";
import { ENGINE_DEFAULT_CAPABILITIES } from "./security/index.js";
import { defaultConfig } from "./spec/defaults.js";
import { parseSpec } from "./spec/validate.js";
import { seccompFor, type SeccompChoice } from "./seccomp/choice.js";
import type { CgroupStats } from "./cgroups/index.js";
import { ContainerError } from "./errors.js";

/**
 * `corral container`: OpenVZ-style containers for people, on Corral's OCI runtime. A container
 * is an overlay over a shared image, its own namespaces (network included), cgroup limits from
 * simple flags, and a network attachment from the network module.
 */
export interface RunRequest {
  name?: string;
  image: string;
  cmd: string[];
  /** CPU cores (0.5 = half a core), as a CFS quota over a 100 ms period. */
  cpus?: number;
  memory?: number;
  pids?: number;
  net: NetworkMode;
  detach: boolean;
  tty?: boolean;
  /** Default: Corral's profile (seccomp/profile.ts). */
  seccomp?: SeccompChoice;
}

export interface ContainerInfo {
  name: string;
  status: OciState["status"];
  pid: number;
  image: string;
  net: string;
  address: string;
  created: string;
}

export function netModeName(m: NetworkMode): string {
  return typeof m === "string" ? m : "macvlan" in m ? `macvlan:${m.macvlan}` : `ipvlan:${m.ipvlan}`;
}

export class Containers {
  readonly rt: Runtime;
  constructor(root = join(stateDir(), "run")) {
    this.rt = new Runtime({ root });
  }

  private dir(name: string): string {
    return join(stateDir(), "containers", name);
  }

  async run(req: RunRequest): Promise<Created & { address?: string }> {
    const name = req.name ?? `c-${randomBytes(4).toString("hex")}`;
    checkId(name);
    if (existsSync(join(this.rt.store.root, name)))
      throw new ContainerError(
        "CONTAINER_EXISTS",
        `a container named '${name}' exists; remove it with 'corral container rm ${name}' or pick another name`,
      );
    const seccomp = seccompFor(req.seccomp ?? { kind: "default" });
    const lower = resolveImage(req.image);
    const dir = this.dir(name);
    mkdirSync(dir, { recursive: true });
    let created = false;
    try {
      const rootfs = mountOverlay(lower, dir);
      const config = defaultConfig(req.cmd, { rootfs, hostname: name, terminal: false });
      (config["root"] as Record<string, unknown>)["readonly"] = false;
      const caps = [...ENGINE_DEFAULT_CAPABILITIES];
      (config["process"] as Record<string, unknown>)["capabilities"] = {
        bounding: caps,
        effective: caps,
        permitted: caps,
      };
      const res: Record<string, unknown> = { devices: [{ allow: false, access: "rwm" }] };
      if (req.cpus !== undefined) res["cpu"] = { quota: Math.round(req.cpus * 100000), period: 100000 };
      if (req.memory !== undefined) res["memory"] = { limit: req.memory, swap: req.memory };
      if (req.pids !== undefined) res["pids"] = { limit: req.pids };
      (config["linux"] as Record<string, unknown>)["resources"] = res;
      // Kept beside the overlay: `exec` puts its processes under the same filter (runc exec does).
      if (seccomp !== undefined) {
        (config["linux"] as Record<string, unknown>)["seccomp"] = seccomp;
        writeFileSync(join(dir, "seccomp.json"), JSON.stringify(seccomp));
      }
      const spec = parseSpec(config);
      const log = openSync(join(dir, "output.log"), "a");
      const stdio = req.detach ? (["ignore", log, log] as const) : "inherit";
      const c = await this.rt.create(name, {
        bundle: dir,
        spec,
        rootfs,
        detach: req.detach,
        stdio: typeof stdio === "string" ? stdio : [...stdio],
        extra: { image: req.image, overlay: dir, net: netModeName(req.net) },
      });
      closeSync(log);
      created = true;
      let address: string | undefined;
      if (req.net !== "none") {
        const n = await setupNetwork({ pid: c.pid, mode: req.net, containerId: name });
        address = n.address;
        const st = this.rt.stored(name);
        this.rt.store.save({ ...st, extra: { ...(st.extra ?? {}), address: address ?? "" } });
      }
      await this.rt.start(name);
      // An exited container keeps only its record, log and upper layer until rm: the overlay
      // mount and the cgroups go when it exits. A foreground run sees the exit itself; a
      // detached one leaves a small watcher behind (the `_release` verb).
      const exited = req.detach
        ? c.exited
        : c.exited.then(async (code) => {
            // The exit status is the answer; a failed release is said, and rm still cleans up.
            await this.release(name).catch(
              (e: Error) =>
                void process.stderr.write(
                  `corral: warning: ${e.message}; 'corral container rm ${name}' removes the rest\n`,
                ),
            );
            return code;
          });
      if (req.detach) this.watch(name);
      return { ...c, exited, ...(address ? { address } : {}) };
    } catch (e) {
      await this.cleanup(name, created);
      throw e;
    }
  }

  private async cleanup(name: string, created: boolean): Promise<void> {
    if (created) await this.rt.delete(name, true).catch(() => undefined);
    await cleanupNetwork(name).catch(() => undefined);
    removeOverlay(this.dir(name));
  }

  /** Release what a stopped container holds on the host (overlay mount, cgroups); false while it runs. */
  async release(name: string): Promise<boolean> {
    if (!(await this.rt.releaseCgroup(name))) return false;
    unmountOverlay(this.dir(name));
    return true;
  }

  /** Wait for a detached container to stop, then release it (run by `corral container _release`). */
  async releaseWhenStopped(name: string): Promise<void> {
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        if (await this.release(name)) return;
      } catch (e) {
        if (e instanceof CorralError && e.code === "OCI_NOT_FOUND") return; // removed meanwhile
        throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private watch(name: string): void {
    const cli = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
    spawn(process.execPath, [cli, "container", "_release", name], { detached: true, stdio: "ignore" }).unref();
  }

  ls(): ContainerInfo[] {
    return this.rt.list().map((s) => {
      const extra = this.rt.stored(s.id).extra ?? {};
      return {
        name: s.id,
        status: s.status,
        pid: s.pid,
        image: extra["image"] ?? "",
        net: extra["net"] ?? "",
        address: extra["address"] ?? "",
        created: s.created,
      };
    });
  }

  async exec(name: string, cmd: string[]): Promise<number> {
    const st = this.rt.stored(name);
    const spec = parseSpec(defaultConfig(cmd));
    const proc = spec.process;
    if (!proc) throw new ContainerError("CONTAINER_EXEC", "no command given");
    const caps = [...ENGINE_DEFAULT_CAPABILITIES];
    proc.capabilities = { bounding: caps, effective: caps, permitted: caps };
    const profile = join(this.dir(name), "seccomp.json");
    const seccomp: unknown = existsSync(profile) ? JSON.parse(readFileSync(profile, "utf8")) : undefined;
    const c = await this.rt.exec(st.id, proc, seccomp !== undefined ? { seccomp } : {});
    return c.exited;
  }

  /** SIGTERM, then SIGKILL after `timeoutS` seconds (docker stop's contract). */
  async stop(name: string, timeoutS = 10): Promise<void> {
    if (this.rt.state(name).status === "stopped") return;
    if (this.rt.state(name).status === "paused") await this.rt.resume(name);
    await this.rt.kill(name, 15, false);
    for (let i = 0; i < timeoutS * 50; i++) {
      if (this.rt.state(name).status === "stopped") return;
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.rt.kill(name, 9, true);
  }

  async rm(name: string, force = false): Promise<void> {
    const status = this.rt.state(name).status;
    if (status !== "stopped" && !force)
      throw new ContainerError(
        "CONTAINER_RUNNING",
        `container '${name}' is ${status}: stop it first ('corral container stop ${name}'), or use 'corral container rm -f ${name}'`,
      );
    await this.rt.delete(name, true);
    await cleanupNetwork(name);
    removeOverlay(this.dir(name));
  }

  stats(name: string): CgroupStats {
    return this.rt.cgroup(name).stats();
  }
}
