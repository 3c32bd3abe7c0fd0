import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busyboxRootfs } from "../../src/containers/image/busybox.js";
import { defaultConfig } from "../../src/containers/spec/defaults.js";

export { busyboxRootfs };

/**
 * Test fixtures: a busybox root filesystem built from the host's busybox-static package (no
 * network images), bundles with runc's default config, and counters of everything a container
 * could leave behind (cgroups, mounts, network links, processes).
 */
export interface Fixture {
  dir: string;
  rootfs: string;
  bundle(name: string, args: string[], patch?: (c: Record<string, unknown>) => void): string;
  cleanup(): void;
}

export function fixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "corral-ct-"));
  // A user-namespaced container's root is an unprivileged host uid: it must reach the rootfs.
  execFileSync("chmod", ["0755", dir]);
  const rootfs = busyboxRootfs(join(dir, "rootfs"));
  return {
    dir,
    rootfs,
    bundle(name, args, patch) {
      const b = join(dir, name);
      mkdirSync(b, { recursive: true });
      const c = defaultConfig(args, { rootfs });
      patch?.(c);
      writeFileSync(join(b, "config.json"), JSON.stringify(c, null, 2));
      return b;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function countDirs(dir: string): number {
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) if (e.isDirectory()) n += 1 + countDirs(join(dir, e.name));
  return n;
}

/** Everything a container could leave behind, counted on the host. */
export interface Leftovers {
  cgroups: number;
  mounts: number;
  links: number;
  processes: number;
}

export function leftovers(): Leftovers {
  const cgroups = readdirSync("/sys/fs/cgroup").reduce((n, h) => n + countDirs(join("/sys/fs/cgroup", h)), 0);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).length;
  const links = readdirSync("/sys/class/net").length;
  let processes = 0;
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const exe = readlinkSync(`/proc/${p}/exe`);
      if (exe.endsWith("/corral-init") || exe.endsWith("/busybox")) processes++;
    } catch {
      // kernel thread or gone
    }
  }
  return { cgroups, mounts, links, processes };
}

import { closeSync, openSync } from "node:fs";

/**
 * What containers of one test left behind, found by name rather than counted: on a machine
 * where other work starts and stops containers meanwhile, host-wide counts move on their own.
 * Mounts whose path lies under `dir`, cgroup directories named `<prefix>*` below a "corral"
 * cgroup, processes whose root directory lies under `dir`.
 */
export function leftoversUnder(
  dir: string,
  prefix: string,
): { mounts: string[]; cgroups: string[]; processes: number[] } {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir + "/"));
  const cgroups: string[] = [];
  for (const h of readdirSync("/sys/fs/cgroup")) {
    const base = join("/sys/fs/cgroup", h, "corral");
    let names: string[] = [];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    cgroups.push(...names.filter((n) => n.startsWith(prefix)).map((n) => join(base, n)));
  }
  const processes: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/root`).startsWith(dir + "/")) processes.push(Number(p));
    } catch {
      // kernel thread or gone
    }
  }
  return { mounts, cgroups, processes };
}
import { Runtime } from "../../src/containers/runtime/runtime.js";

/** Run a container in-process to completion; returns its exit status and output (stdout+stderr). */
export async function runCapture(rt: Runtime, id: string, bundle: string): Promise<{ code: number; out: string }> {
  const file = join(rt.store.root, `${id}.out`);
  mkdirSync(rt.store.root, { recursive: true });
  const fd = openSync(file, "w+");
  try {
    const c = await rt.run(id, { bundle, stdio: ["ignore", fd, fd] });
    const code = await c.exited;
    await rt.delete(id, true);
    return { code, out: readFileSync(file, "utf8") };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** Poll until `check` holds (or the attempts run out); for states the kernel reaches asynchronously. */
export async function until(check: () => boolean, attempts = 500): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}
