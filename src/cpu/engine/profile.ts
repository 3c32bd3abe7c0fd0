/**
 * A persistent block profile: which blocks of a kernel were hot in earlier runs, so that the next
 * run compiles them at first sight instead of after CodeCache.hot interpreted runs.
 *
 * Why it can work: Debian's kernel has no KASLR and Corral's device tree gives no kaslr-seed, so a
 * kernel's text lies at the same RAM offsets on every boot, and a block is keyed by its RAM offset
 * (exec.ts). An entry is (RAM offset, a hash of the block's instruction words, a score). A block
 * built at that offset with the same hash is made due for compilation on its first run; one whose
 * bytes differ is not. Correctness never depends on the profile: a block is always translated
 * from the bytes in RAM now; a stale or forged entry costs one compile at most.
 *
 * Scores: each run adds 2 x hot for a block it compiled, and the interpreted runs of a warm block
 * (at least WARM_MIN); what earlier runs left is halved first. A block is due at first sight when
 * its score is at least `hot`: once compiled, for the next two runs even if they do not meet it;
 * a warm block when it runs about hot / 2 times a run on average (its score tends to twice that).
 *
 * The file: $CORRAL_HOME/block-profiles/<sha-256 of the kernel and firmware images>.prof, named
 * from what the host chose to boot, never from anything the guest writes. Bounded (MAX_ENTRIES),
 * written to a temporary file and renamed over the old one; a file that is short, long, foreign
 * or fails its checksum is ignored and replaced. CORRAL_BLOCK_PROFILE=0 turns it off; a path
 * there is the directory to use instead (the boot bench's first-boot row uses an empty one).
 */
import { mkdirSync, openSync, readSync, closeSync, fstatSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Block, CodeCache } from "./exec.js";

export const PROFILE_ENV = "CORRAL_BLOCK_PROFILE";
/** Entries kept at most: 16 bytes each, so a file stays under 512 KiB whatever the guest runs. */
export const MAX_ENTRIES = 32_768;
/** Interpreted runs below which a block is not recorded (most blocks run a few times). */
export const WARM_MIN = 256;
/** Scores below this are dropped when the file is written. */
const KEEP_MIN = 64;
/**
 * How often a running machine writes its profile, when it compiled something new since: benches
 * and callers may kill a run instead of stopping it. Each write costs a few ms of this thread.
 */
const SAVE_MS = 2_000;

/**
 * The file, in 32-bit words of the host's byte order (a file from a host of the other order fails
 * the magic check and is ignored): "CRLBPRF" and the format's version (two words), the entry
 * count, three words per entry (RAM offset, hash, score), then a checksum of all the words before.
 */
export const PROFILE_MAGIC = Buffer.from("CRLBPRF\x01", "latin1");
const HEADER_WORDS = 3;
const ENTRY_WORDS = 3;
const MAX_BYTES = 4 * (HEADER_WORDS + ENTRY_WORDS * MAX_ENTRIES + 1);

export interface ProfileEntry {
  /** RAM offset of the block's first instruction. */
  off: number;
  /** blockHash of its instruction words. */
  hash: number;
  score: number;
}

/** A 32-bit hash of a block's `n` instruction words (FNV-1a, with the count mixed in). */
export function blockHash(raws: Int32Array, n: number): number {
  let h = (0x811c9dc5 ^ n) | 0;
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ raws[i]!, 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** The file's checksum: blockHash's mixing over its first `end` words. */
function checksum(w: Uint32Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h = Math.imul(h ^ w[i]!, 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** The file's bytes for `entries` (the first MAX_ENTRIES of them). */
export function encodeProfile(entries: readonly ProfileEntry[]): Uint8Array {
  const n = Math.min(entries.length, MAX_ENTRIES);
  const w = new Uint32Array(HEADER_WORDS + ENTRY_WORDS * n + 1);
  const magic = new Uint32Array(PROFILE_MAGIC.buffer.slice(PROFILE_MAGIC.byteOffset, PROFILE_MAGIC.byteOffset + 8));
  w[0] = magic[0]!;
  w[1] = magic[1]!;
  w[2] = n;
  for (let i = 0, at = HEADER_WORDS; i < n; i++, at += ENTRY_WORDS) {
    const e = entries[i]!;
    w[at] = e.off;
    w[at + 1] = e.hash;
    w[at + 2] = Math.min(e.score, 0xffffffff);
  }
  w[w.length - 1] = checksum(w, w.length - 1);
  return new Uint8Array(w.buffer);
}

/** The entries of a profile file's bytes, or null when they are not one (wrong magic, size or checksum). */
export function decodeProfile(b: Uint8Array): ProfileEntry[] | null {
  if (b.length < 4 * (HEADER_WORDS + 1) || b.length > MAX_BYTES || b.length % 4 !== 0) return null;
  if (!PROFILE_MAGIC.equals(b.subarray(0, 8))) return null;
  const w = new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  const n = w[2]!;
  if (n > MAX_ENTRIES || w.length !== HEADER_WORDS + ENTRY_WORDS * n + 1) return null;
  if (w[w.length - 1] !== checksum(w, w.length - 1)) return null;
  const out: ProfileEntry[] = [];
  for (let i = 0, at = HEADER_WORDS; i < n; i++, at += ENTRY_WORDS)
    out.push({ off: w[at]!, hash: w[at + 1]!, score: w[at + 2]! });
  return out;
}

/** A profile file's entries; none when it is missing, unreadable, too large or not a profile. */
export function readProfile(path: string): ProfileEntry[] {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return [];
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_BYTES) return [];
    const b = new Uint8Array(st.size);
    let got = 0;
    while (got < b.length) {
      const r = readSync(fd, b, got, b.length - got, got);
      if (r === 0) break;
      got += r;
    }
    return (got === b.length ? decodeProfile(b) : null) ?? [];
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}

/** Write `bytes` to `path` atomically: a temporary file beside it, renamed over it. Never throws. */
function writeAtomic(path: string, bytes: Uint8Array): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes, { mode: 0o600 });
    renameSync(tmp, path);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}

interface Score {
  hash: number;
  score: number;
}

/** One run's profile: what earlier runs left (`base`) and what this run saw. */
export class BlockProfile {
  private readonly base = new Map<number, Score>();
  private readonly seen = new Map<number, Score>();
  /**
   * Offsets hinted since the cache was last trimmed: each is hinted once, so a block whose page
   * keeps being rewritten (every compiled block of a page goes with it, exec.ts codeWritten) is
   * not compiled again at each rebuild; after that it waits for the threshold like any other.
   */
  private readonly used = new Set<number>();
  /** Compiles noted since the file was last written. */
  private fresh = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    entries: readonly ProfileEntry[],
    /** The cache's threshold (CodeCache.hot): the score a block needs to be due at first sight. */
    readonly hot: number,
    /** Where it is written; null for a profile that is never written (tests). */
    readonly path: string | null = null,
  ) {
    for (const e of entries) this.base.set(e.off, { hash: e.hash, score: e.score });
  }

  /** Blocks of earlier runs (and this one) due at first sight: how many entries score `hot`. */
  get due(): number {
    let n = 0;
    for (const [off, e] of this.base) if (this.scoreOf(off, e.hash) >= this.hot) n++;
    return n;
  }

  /** The score of the block at `off` with hash `hash`: earlier runs' and this run's. */
  private scoreOf(off: number, hash: number): number {
    const b = this.base.get(off);
    const s = this.seen.get(off);
    return (b !== undefined && b.hash === hash ? b.score : 0) + (s !== undefined && s.hash === hash ? s.score : 0);
  }

  /** Whether block `b`, just built, was hot before with these same instruction words. */
  hinted(b: Block): boolean {
    if ((!this.base.has(b.off) && !this.seen.has(b.off)) || this.used.has(b.off)) return false;
    if (this.scoreOf(b.off, blockHash(b.raws, b.n)) < this.hot) return false;
    this.used.add(b.off);
    return true;
  }

  /** Every block was dropped (CodeCache.trim): each entry may be hinted once more. */
  trimmed(): void {
    this.used.clear();
  }

  /** Block `b` is being compiled (CodeCache.compile). */
  compiled(b: Block): void {
    const hash = blockHash(b.raws, b.n);
    const s = this.seen.get(b.off);
    if (s !== undefined && s.hash === hash && s.score >= 2 * this.hot) return;
    this.seen.set(b.off, { hash, score: 2 * this.hot });
    this.fresh++;
  }

  /** Record the interpreted runs of the cache's warm blocks (before they are dropped, CodeCache.trim). */
  collect(cache: CodeCache): void {
    cache.forEachBlock((b) => {
      if (b.hits < WARM_MIN || b.wx >= 0 || b.run !== null || b.dead) return;
      const hash = blockHash(b.raws, b.n);
      const s = this.seen.get(b.off);
      if (s === undefined || s.hash !== hash || s.score < b.hits) this.seen.set(b.off, { hash, score: b.hits });
    });
  }

  /** The entries to write: earlier runs' scores halved plus this run's, the highest MAX_ENTRIES. */
  entries(): ProfileEntry[] {
    const out: ProfileEntry[] = [];
    for (const [off, b] of this.base) {
      const s = this.seen.get(off);
      const score = (b.score >>> 1) + (s !== undefined && s.hash === b.hash ? s.score : 0);
      if (s !== undefined && s.hash !== b.hash) continue; // the block there now replaces it (below)
      if (score >= KEEP_MIN) out.push({ off, hash: b.hash, score });
    }
    for (const [off, s] of this.seen) {
      const b = this.base.get(off);
      if (b !== undefined && b.hash === s.hash) continue;
      if (s.score >= KEEP_MIN) out.push({ off, hash: s.hash, score: s.score });
    }
    // Sorted only when over the cap: the periodic writes run while the guest boots.
    if (out.length > MAX_ENTRIES) out.sort((a, b) => b.score - a.score || a.off - b.off).length = MAX_ENTRIES;
    return out;
  }

  /**
   * Write the file, after collecting the cache's warm blocks when `warm` (a walk over every block:
   * not for the periodic writes). Never throws: a profile is only a hint.
   */
  save(cache: CodeCache, warm = true): void {
    if (this.path === null) return;
    if (warm) this.collect(cache);
    this.fresh = 0;
    writeAtomic(this.path, encodeProfile(this.entries()));
  }

  /** Write the file every SAVE_MS while something new was compiled (a run may be killed, not stopped). */
  autosave(cache: CodeCache): void {
    if (this.path === null || this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.fresh > 0) this.save(cache, false);
    }, SAVE_MS);
    this.timer.unref();
  }

  /** The run ended: write the file a last time and stop the timer. */
  end(cache: CodeCache): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.save(cache);
  }
}

/**
 * The directory profiles go in, from CORRAL_BLOCK_PROFILE: null when it is "0" (off), the path it
 * names, else `home`/block-profiles.
 */
export function profileDir(home: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env[PROFILE_ENV]?.trim();
  if (v === "0" || v === "off") return null;
  return v ? v : join(home, "block-profiles");
}

/**
 * Give `cache` the profile of the images `blobs` (the kernel, and the firmware if any): their
 * SHA-256 is computed off this thread (WebCrypto), so the guest starts meanwhile; blocks built
 * before it arrives are hinted then (CodeCache.useProfile). Resolves with the profile, or null
 * when profiles are off or the cache cannot use one (harts on threads keep caches of their own).
 */
export async function attachProfile(
  cache: CodeCache,
  blobs: readonly (Uint8Array | undefined)[],
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BlockProfile | null> {
  const dir = profileDir(home, env);
  if (dir === null || cache.shared) return null;
  const parts: Uint8Array[] = [];
  for (const b of blobs) if (b !== undefined) parts.push(b);
  if (parts.length === 0) return null;
  let key = "";
  for (const b of parts) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
    key += Buffer.from(d)
      .toString("hex")
      .slice(0, parts.length > 1 ? 32 : 64);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    return null;
  }
  const path = join(dir, `${key}.prof`);
  const p = new BlockProfile(readProfile(path), cache.hot, path);
  cache.useProfile(p);
  p.autosave(cache);
  return p;
}
