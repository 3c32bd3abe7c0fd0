/**
 * `corral run --profile FILE`: while the VM runs, sample the guest (guest.ts) and the host
 * (host.ts); when it stops, write FILE (report.ts). The file's path is checked before the guest
 * boots, so a typo costs no boot.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Machine, MachineExit } from "../machine/machine.js";
import { ProfileError } from "./errors.js";
import { GuestSamples } from "./guest.js";
import { HostPhases } from "./host.js";
import { formatReport } from "./report.js";
import { KernelSymbols } from "./symbols.js";

/**
 * `path` as an absolute path the profile can be written to, or BAD_PROFILE_PATH. Opened for
 * appending (creating it, then removing what was created), which is the write's own check:
 * permission bits, read-only mounts, a directory in the way.
 */
export function checkProfilePath(path: string): string {
  const abs = resolve(path);
  const existed = existsSync(abs);
  try {
    if (existed && !statSync(abs).isFile()) throw new Error("not a regular file");
    closeSync(openSync(abs, "a"));
    if (!existed) rmSync(abs, { force: true });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ProfileError(
      "BAD_PROFILE_PATH",
      `--profile ${path}: cannot write there (${why}): name a file in a writable directory`,
      { exitCode: 2 },
    );
  }
  return abs;
}

/** Where the symbols of the guest's kernel come from, or why there are none. */
export interface SymbolSource {
  /** A System.map file. */
  systemMap?: string | undefined;
  /** Said in the report's first lines when there is no usable System.map. */
  note?: string | undefined;
}

/** The System.map beside a kernel the user gave (--kernel): System.map, or System.map-<release> for vmlinux-<release>. */
export function systemMapBeside(kernel: string): SymbolSource {
  const dir = dirname(kernel);
  const release = /^(?:vmlinux|vmlinuz|Image)-(.+)$/.exec(basename(kernel))?.[1];
  for (const f of [...(release !== undefined ? [`System.map-${release}`] : []), "System.map"]) {
    if (existsSync(join(dir, f))) return { systemMap: join(dir, f) };
  }
  return {
    note: `no System.map beside ${kernel}: kernel pcs are raw addresses (put the kernel's System.map in ${dir})`,
  };
}

export interface Profiling {
  /** Write the profile of the run that ended with `exit`. */
  finish(exit: MachineExit): void;
}

/** Start profiling `machine` (before its run starts); `finish` writes `path`. */
export function startProfile(machine: Machine, path: string, source: SymbolSource): Profiling {
  let symbols: KernelSymbols | null = null;
  let note = source.note;
  if (source.systemMap !== undefined) {
    symbols = KernelSymbols.parse(readFileSync(source.systemMap, "latin1"));
    if (symbols === null) note = `${source.systemMap} holds no code symbols: kernel pcs are raw addresses`;
  }
  const guest = new GuestSamples(symbols);
  const host = new HostPhases();
  const retired0 = machine.retired;
  machine.sampler = guest.sample;
  host.start();
  let done = false;
  return {
    finish(exit) {
      if (done) return;
      done = true;
      machine.sampler = null;
      host.stop();
      const text = formatReport({
        exit,
        guest,
        host,
        instructions: machine.retired - retired0,
        symbolsFrom: symbols !== null ? source.systemMap : undefined,
        note,
      });
      writeFileSync(path, text);
    },
  };
}
