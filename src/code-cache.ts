/**
 * V8's code cache for Corral's bundles (scripts/bundle.mjs), so that a program's second start
 * compiles nothing it compiled the first time: the bytecode of every function that ran is kept in
 * $CORRAL_HOME/code-cache and handed back to V8 (vm.Script `cachedData`) by the next process.
 * Node 20 has no module.enableCompileCache (Node 22.1); this is the same idea for one CommonJS file.
 *
 * V8 checks a cache against its own version and flags and the source's length, not against the
 * source itself; and it checks the payload's checksum only under --verify-snapshot-checksum. So:
 * - every file starts with a key (`cacheKey`) that names the exact bundle file it was made from
 *   (device, inode, size, modification and change times to the nanosecond: any write to the file,
 *   or another file renamed over it, changes the change time, which user space cannot set back;
 *   the image cache trusts its remembered checks the same way, src/image/cache.ts) and what V8
 *   makes of it (Node's and V8's versions, the architecture, this process's V8 flags); a file
 *   whose key differs is ignored;
 * - a cache is made and read with --verify-snapshot-checksum on (withCacheFlags), so V8 writes a
 *   checksum of the payload and refuses a payload that does not match it;
 * - a file another user owns, or that is not a regular file, is ignored.
 * A stale or damaged cache never runs: it costs only the compile it would have saved, and is
 * replaced. No hash is computed here: node:crypto alone takes longer to load than what it would check.
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type BigIntStats,
} from "node:fs";
import { join } from "node:path";
import { cachedDataVersionTag, setFlagsFromString } from "node:v8";

/**
 * A cache file: magic, the key's length (u32, little-endian), the key (UTF-8), then V8's cached
 * data to the end of the file.
 */
export const CACHE_LAYOUT = {
  magic: { offset: 0, size: 8 },
  keyLength: { offset: 8, size: 4 },
  key: { offset: 12 },
} as const;
/** "CRLV8CC" and the format's version. */
export const CACHE_MAGIC = Buffer.from("CRLV8CC\x02", "latin1");

/** A module whose one function uses f64x2.relaxed_madd: it validates only while relaxed SIMD is on. */
const RELAXED_SIMD_PROBE = (() => {
  const v128 = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...v128, ...v128, ...v128, 0xfd, 0x87, 0x02, 0x1a, 0x0b]; // 3 x v128.const, relaxed_madd, drop
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...[1, 4, 1, 0x60, 0, 0], // type section: () -> ()
    ...[3, 2, 1, 0], // function section
    ...[10, body.length + 2, 1, body.length, ...body], // code section
  ]);
})();

/**
 * V8 flags that Corral's code sets while it runs, each with a test of whether it is set now.
 * V8 refuses cached data made under other flags (it hashes the flags that differ from their
 * defaults), and so does Node for its own built-in modules' caches: withCacheFlags puts these
 * at their defaults while a cache is made or read. src/cpu/wasm/hw-fma.ts sets the first (it
 * enables relaxed SIMD's validation, nothing else), src/cpu/wasm/branch-hints.ts the second (V8
 * reads the wasm tier's branch hints). tests/code-cache.test.ts fails if a flag set at run time
 * is missing here: the second start's cache would be refused.
 */
export const RUNTIME_V8_FLAGS: readonly { name: string; isSet: () => boolean }[] = [
  { name: "experimental-wasm-relaxed-simd", isSet: () => WebAssembly.validate(RELAXED_SIMD_PROBE) },
  { name: "experimental-wasm-branch-hinting", isSet: () => offByDefaultIsSet("experimental-wasm-branch-hinting") },
];

/**
 * Whether V8 flag `name`, off by default, is on. Nothing a script can run tells branch hints
 * apart (V8 skips the section without the flag), so this asks V8's own flag hash, which
 * cachedDataVersionTag includes and which counts only flags that differ from their defaults:
 * setting the flag leaves the tag as it was exactly when the flag was on already. If it was
 * not, it is put back off.
 */
function offByDefaultIsSet(name: string): boolean {
  const before = cachedDataVersionTag();
  setFlagsFromString(`--${name}`);
  if (cachedDataVersionTag() === before) return true;
  setFlagsFromString(`--no-${name}`);
  return false;
}

/**
 * Run `f` (compiling a bundle with its cache, or making the cache) under the flags every cache
 * is made and read under: --verify-snapshot-checksum on (V8 writes a checksum of the payload
 * and refuses a payload that does not match it), each of RUNTIME_V8_FLAGS at its default; then
 * put them back as they were. Only for the moment of `f`: a flag left changed would make Node
 * refuse the caches of the built-in modules loaded afterwards, and compile them from source.
 */
export function withCacheFlags<T>(f: () => T): T {
  const set = RUNTIME_V8_FLAGS.filter((flag) => flag.isSet());
  setFlagsFromString("--verify-snapshot-checksum");
  for (const flag of set) setFlagsFromString(`--no-${flag.name}`);
  try {
    return f();
  } finally {
    setFlagsFromString("--no-verify-snapshot-checksum");
    for (const flag of set) setFlagsFromString(`--${flag.name}`);
  }
}

/** Files kept per program and variant besides the one in use (other checkouts or builds of Corral). */
const KEEP_OTHERS = 2;
/** A temporary file this old was left by a process that died while writing it. */
const STALE_TMP_MS = 60_000;

export type CacheOutcome =
  /** The cache was read and V8 took it. */
  | "hit"
  /** No cache file for this bundle. */
  | "miss"
  /** A file that failed Corral's checks (made for another file or build, another user's): ignored. */
  | "invalid"
  /** A file that passed Corral's checks and that V8 refused (damaged, other flags): ignored. */
  | "rejected"
  /** Caching is off ($CORRAL_CODE_CACHE=0). */
  | "off";

/** The key of a cache for the bundle at `path`, whose fstat is `st`, in this process (see the file comment). */
export function cacheKey(path: string, st: BigIntStats, execArgv: readonly string[] = process.execArgv): string {
  return JSON.stringify({
    file: [path, st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].map(String),
    node: process.version,
    v8: process.versions.v8,
    arch: process.arch,
    execArgv,
  });
}

/** The cache file of program `name` (and `variant`: the CLI's verb) for `key`: the key's FNV-1a hash names it. */
export function cachePath(dir: string, name: string, variant: string, key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return join(dir, `${name}-${variant}-${(h >>> 0).toString(16).padStart(8, "0")}.bin`);
}

/** The payload of the cache file at `path` made for `key`, or "miss"/"invalid" (see the file comment). */
export function readCache(path: string, key: string): Buffer | "miss" | "invalid" {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "miss";
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || st.size < CACHE_LAYOUT.key.offset) return "invalid";
    const buf = Buffer.allocUnsafe(st.size);
    if (readSync(fd, buf, 0, st.size, 0) !== st.size) return "invalid";
    const keyBytes = Buffer.from(key);
    const end = CACHE_LAYOUT.key.offset + keyBytes.length;
    if (
      !buf.subarray(CACHE_LAYOUT.magic.offset, CACHE_LAYOUT.magic.size).equals(CACHE_MAGIC) ||
      buf.readUInt32LE(CACHE_LAYOUT.keyLength.offset) !== keyBytes.length ||
      end >= st.size ||
      !buf.subarray(CACHE_LAYOUT.key.offset, end).equals(keyBytes)
    )
      return "invalid";
    return buf.subarray(end);
  } catch {
    return "invalid";
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `payload` as the cache file at `path` for `key`: a temporary file renamed over it (a
 * reader sees the old file or the new one, whole), in a directory this user owns; then drop
 * older caches of the same program and variant beyond KEEP_OTHERS, and temporary files left
 * behind. Best effort: a cache that cannot be written is not an error.
 */
export function writeCache(path: string, key: string, payload: Buffer): boolean {
  const dir = join(path, "..");
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (statSync(dir).uid !== process.geteuid?.()) return false;
    const keyBytes = Buffer.from(key);
    const header = Buffer.alloc(CACHE_LAYOUT.key.offset);
    CACHE_MAGIC.copy(header, CACHE_LAYOUT.magic.offset);
    header.writeUInt32LE(keyBytes.length, CACHE_LAYOUT.keyLength.offset);
    writeFileSync(tmp, Buffer.concat([header, keyBytes, payload]), { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
  prune(dir, path);
  return true;
}

/** Drop the caches of `current`'s program and variant beyond the newest KEEP_OTHERS, and stale temporary files. */
function prune(dir: string, current: string): void {
  const base = current.slice(dir.length + 1);
  const prefix = base.slice(0, base.lastIndexOf("-") + 1);
  try {
    const now = Date.now();
    const others: { path: string; mtime: number }[] = [];
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (f.endsWith(".tmp")) {
        if (now - statSync(p).mtimeMs > STALE_TMP_MS) rmSync(p, { force: true });
      } else if (f.startsWith(prefix) && f !== base && f.endsWith(".bin")) {
        others.push({ path: p, mtime: statSync(p).mtimeMs });
      }
    }
    others.sort((a, b) => b.mtime - a.mtime);
    for (const o of others.slice(KEEP_OTHERS)) rmSync(o.path, { force: true });
  } catch {
    // another process pruned meanwhile
  }
}
