/**
 * `corral run --profile FILE`: while the VM runs, sample the guest (guest.ts) and the host
 * (host.ts); when it stops, write FILE (report.ts). The file's path is checked before the guest
 * boots, so a typo costs no boot.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Machine, MachineExit } from "../machine/machine.js";
import { ProfileError } from "./errors.js";
import { GuestSamples } from "./guest.js";
import { HostPhases } from "./host.js";
import { formatReport } from "./report.js";
import { KernelSymbols } from "./symbols.js";

/**
 * `path` as an absolute path the profile can be written to, or BAD_PROFILE_PATH. The profile is
 * written beside it and renamed over it (writeProfile), so what is checked is that a file can be
 * made in its directory (permission bits, read-only mounts, /proc), and that `path` is not a
 * directory or device. An existing profile stays as it is until the new one replaces it.
 */
export function checkProfilePath(path: string): string {
  const abs = resolve(path);
  try {
    if (existsSync(abs) && !statSync(abs).isFile()) throw new Error("not a regular file");
    const probe = tempBeside(abs);
    closeSync(openSync(probe, "wx"));
    rmSync(probe, { force: true });
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

const tempBeside = (abs: string): string => join(dirname(abs), `.${basename(abs)}.corral-${process.pid}`);

/** Write `text` to `path` whole: a file beside it, renamed over it. */
function writeProfile(path: string, text: string): void {
  const tmp = tempBeside(path);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ProfileError(
      "PROFILE_WRITE_FAILED",
      `could not write the profile to ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
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
      writeProfile(path, text);
    },
  };
}
