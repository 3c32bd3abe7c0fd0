import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from "node:fs";
import { ContainerError } from "../errors.js";

/** Small file helpers for cgroupfs, where every write is a request the kernel may refuse. */
export function cgWrite(file: string, value: string): void {
  try {
    // "r+": cgroupfs cannot create files, and O_CREAT would turn a missing control into EACCES.
    const fd = openSync(file, "r+");
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    if (code === "ENOENT")
      throw new ContainerError(
        "CGROUP_CONTROLLER_MISSING",
        `${file} does not exist: this kernel lacks that cgroup control; remove the setting from linux.resources`,
        { cause: e },
      );
    throw new ContainerError(
      "CGROUP_LIMIT_REFUSED",
      `the kernel refused '${value}' for ${file} (${code}); use a value the host allows`,
      { cause: e },
    );
  }
}

export function cgRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

export function cgNum(file: string): number {
  const t = cgRead(file).trim();
  if (t === "" || t === "max") return 0;
  return Number(t);
}

/** Parse "key value" lines (memory.stat, cpu.stat, pids.events...). */
export function cgKeyed(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of cgRead(file).split("\n")) {
    const [k, v] = line.split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

export function cgPids(file: string): number[] {
  return cgRead(file).split("\n").filter(Boolean).map(Number);
}

/** mkdir -p, returning the directories it created (outermost first). */
export function mkdirTracked(dir: string): string[] {
  const created: string[] = [];
  const parts = dir.split("/").filter(Boolean);
  let cur = "";
  for (const p of parts) {
    cur += "/" + p;
    try {
      mkdirSync(cur);
      created.push(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return created;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * rmdir a cgroup. The kernel refuses (EBUSY) while exiting tasks are still being torn down,
 * so retry for a while; a missing directory counts as removed.
 */
export async function cgRmdir(dir: string, attempts = 200): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || i >= attempts)
        throw new ContainerError("CGROUP_BUSY", `cannot remove cgroup ${dir} (${code}); a process is still in it`, {
          cause: e,
        });
      await sleep(i < 10 ? 1 : 10);
    }
  }
}
