/**
 * A process's memory as the host kernel accounts it: /proc/PID/smaps (one record per mapping),
 * /proc/PID/smaps_rollup (the same fields summed) and /proc/PID/ksm_stat (proc(5); the KSM field
 * and ksm_stat are Linux 6.1+, Documentation/filesystems/proc.rst section 1.1 and
 * Documentation/admin-guide/mm/ksm.rst). Sizes are returned in bytes.
 */
import { readFileSync } from "node:fs";

/** One mapping of /proc/PID/smaps. */
export interface SmapsEntry {
  start: number;
  end: number;
  /** "rw-p" and the like. */
  perms: string;
  /** The mapped file, "[heap]", "[stack]", ..., or "" for anonymous memory. */
  path: string;
  /** Every "Name: N kB" field, in bytes (Rss, Pss, Shared_Clean, Private_Dirty, KSM, ...). */
  fields: Record<string, number>;
  /** The two-letter VmFlags ("rd", "wr", "mg" for KSM-mergeable, ...). */
  vmFlags: string[];
}

/** "7f0000000000-7f0000001000 rw-p 00000000 00:00 0   /path" (proc(5), /proc/PID/maps). */
const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ \d+\s*(.*)$/;
/** "Rss:   1234 kB". */
const FIELD = /^(\w+):\s+(\d+) kB$/;

/** The records of an smaps text (the format of /proc/PID/smaps). */
export function parseSmaps(text: string): SmapsEntry[] {
  const out: SmapsEntry[] = [];
  let cur: SmapsEntry | undefined;
  for (const line of text.split("\n")) {
    const h = HEADER.exec(line);
    if (h) {
      cur = {
        start: parseInt(h[1]!, 16),
        end: parseInt(h[2]!, 16),
        perms: h[3]!,
        path: h[4]!,
        fields: {},
        vmFlags: [],
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const f = FIELD.exec(line);
    if (f) cur.fields[f[1]!] = Number(f[2]) * 1024;
    else if (line.startsWith("VmFlags:")) cur.vmFlags = line.slice(8).trim().split(/\s+/);
  }
  return out;
}

/** The fields of an smaps_rollup text, in bytes. */
export function parseRollup(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const f = FIELD.exec(line);
    if (f) out[f[1]!] = Number(f[2]) * 1024;
  }
  return out;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The mappings of process `pid`; [] when it has ended or cannot be read. */
export function readSmaps(pid: number | "self" = "self"): SmapsEntry[] {
  return parseSmaps(read(`/proc/${pid}/smaps`) ?? "");
}

/** The summed fields of process `pid` (smaps_rollup); undefined when it has ended or cannot be read. */
export function readRollup(pid: number | "self" = "self"): Record<string, number> | undefined {
  const t = read(`/proc/${pid}/smaps_rollup`);
  return t === undefined ? undefined : parseRollup(t);
}

/**
 * The proportional set size of a set of processes, summed: each shared page counts once in
 * total, split among its sharers (also pages KSM merged). The figure for "how much host memory
 * do these VMs cost together". Processes that have ended count 0.
 */
export function pssOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readRollup(pid)?.["Pss"] ?? 0;
  return sum;
}

/** The mapping that contains host address `addr`. */
export function mappingAt(entries: readonly SmapsEntry[], addr: number): SmapsEntry | undefined {
  return entries.find((e) => e.start <= addr && addr < e.end);
}

/** What KSM did for one process (/proc/PID/ksm_stat); pages, or undefined where the kernel has no such line. */
export interface KsmProcessStat {
  /** Pages of this process currently merged with others (ksm_merging_pages). */
  mergingPages: number | undefined;
  /** Pages KSM replaced by the shared zero page (ksm_zero_pages). */
  zeroPages: number | undefined;
  /** Bytes saved, minus KSM's own bookkeeping (ksm_process_profit, may be negative). */
  profit: number | undefined;
}

/** `pid`'s KSM figures: ksm_stat, else the older ksm_merging_pages file; undefined when neither exists. */
export function readKsmStat(pid: number | "self" = "self"): KsmProcessStat | undefined {
  const t = read(`/proc/${pid}/ksm_stat`);
  if (t === undefined) {
    const m = read(`/proc/${pid}/ksm_merging_pages`);
    return m === undefined ? undefined : { mergingPages: Number(m.trim()), zeroPages: undefined, profit: undefined };
  }
  const v = (k: string): number | undefined => {
    const m = new RegExp(`^${k} (-?\\d+)$`, "m").exec(t);
    return m ? Number(m[1]) : undefined;
  };
  return { mergingPages: v("ksm_merging_pages"), zeroPages: v("ksm_zero_pages"), profit: v("ksm_process_profit") };
}
