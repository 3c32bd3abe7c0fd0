/**
 * cpio "newc" archive writer: the format Linux unpacks as its initramfs.
 * Reference: the kernel's Documentation/driver-api/early-userspace/buffer-format.rst. Each entry
 * is a 110-byte ASCII header ("070701" and thirteen 8-digit hex fields), the NUL-terminated name
 * padded so header+name is a multiple of 4, then the data padded to a multiple of 4. The archive
 * ends with an entry named "TRAILER!!!". Archives may be concatenated; the kernel unpacks each.
 */
import { FormatError } from "./errors.js";

export const CPIO_MAGIC = "070701";
/** Header fields after the magic, in order, each 8 hex digits (buffer-format.rst). */
export const CPIO_FIELDS = [
  "ino",
  "mode",
  "uid",
  "gid",
  "nlink",
  "mtime",
  "filesize",
  "devmajor",
  "devminor",
  "rdevmajor",
  "rdevminor",
  "namesize",
  "check",
] as const;
export type CpioField = (typeof CPIO_FIELDS)[number];
export const CPIO_FIELD_WIDTH = 8;
export const CPIO_HEADER_SIZE = CPIO_MAGIC.length + CPIO_FIELDS.length * CPIO_FIELD_WIDTH; // 110
export const CPIO_TRAILER = "TRAILER!!!";

/** File type bits of st_mode (POSIX <sys/stat.h>). */
export const S_IF = { DIR: 0o040000, CHR: 0o020000, REG: 0o100000, LNK: 0o120000 } as const;

interface Entry {
  mode: number;
  data: Uint8Array;
  rdevmajor: number;
  rdevminor: number;
}

const utf8 = new TextEncoder();
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** "/bin//sh/" → "bin/sh"; rejects "..", which the kernel would refuse to follow anyway. */
function normalize(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) {
    throw new FormatError("CPIO_BAD_PATH", `cpio: '${path}' is not a path inside the archive`);
  }
  return parts.join("/");
}

export class CpioWriter {
  /** Insertion order is archive order, so parents (added first) precede their children. */
  private readonly entries = new Map<string, Entry>();

  /**
   * @param mtime modification time written on every entry (seconds); 0 keeps archives
   *   byte-for-byte reproducible.
   */
  constructor(private readonly mtime = 0) {}

  dir(path: string, mode = 0o755): this {
    return this.put(path, { mode: S_IF.DIR | (mode & 0o7777), data: new Uint8Array(0), rdevmajor: 0, rdevminor: 0 });
  }

  file(path: string, data: Uint8Array, mode = 0o644): this {
    return this.put(path, { mode: S_IF.REG | (mode & 0o7777), data, rdevmajor: 0, rdevminor: 0 });
  }

  /** The link target is stored as the entry's data (buffer-format.rst). */
  symlink(path: string, target: string): this {
    return this.put(path, { mode: S_IF.LNK | 0o777, data: utf8.encode(target), rdevmajor: 0, rdevminor: 0 });
  }

  charDevice(path: string, major: number, minor: number, mode = 0o600): this {
    return this.put(path, {
      mode: S_IF.CHR | (mode & 0o7777),
      data: new Uint8Array(0),
      rdevmajor: major,
      rdevminor: minor,
    });
  }

  has(path: string): boolean {
    return this.entries.has(normalize(path));
  }

  /** Add an entry, creating missing parent directories (0755) first. A repeated path is replaced. */
  private put(path: string, e: Entry): this {
    const name = normalize(path);
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = this.entries.get(parent);
      if (!existing)
        this.entries.set(parent, { mode: S_IF.DIR | 0o755, data: new Uint8Array(0), rdevmajor: 0, rdevminor: 0 });
      else if ((existing.mode & 0o170000) !== S_IF.DIR) {
        throw new FormatError("CPIO_BAD_PATH", `cpio: cannot add '${name}': '${parent}' is not a directory`);
      }
    }
    this.entries.set(name, e);
    return this;
  }

  /**
   * The archive bytes. Inode numbers are 1, 2, 3... in archive order: stable across builds.
   * Every entry has its own inode and nlink 1 (2 for directories), so the kernel never treats two
   * entries as hard links, even across concatenated archives.
   */
  finish(): Uint8Array {
    const records: { header: Uint8Array; name: Uint8Array; data: Uint8Array }[] = [];
    let ino = 1;
    const add = (name: string, fields: Partial<Record<CpioField, number>>, data: Uint8Array): void => {
      const nameBytes = utf8.encode(name + "\0");
      const all: Record<CpioField, number> = {
        ino: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        mtime: this.mtime,
        filesize: data.length,
        devmajor: 0,
        devminor: 0,
        rdevmajor: 0,
        rdevminor: 0,
        namesize: nameBytes.length,
        check: 0,
        ...fields,
      };
      const text = CPIO_MAGIC + CPIO_FIELDS.map((f) => hex8(all[f], f)).join("");
      records.push({ header: utf8.encode(text), name: nameBytes, data });
    };
    for (const [name, e] of this.entries) {
      const isDir = (e.mode & 0o170000) === S_IF.DIR;
      add(
        name,
        { ino: ino++, mode: e.mode, nlink: isDir ? 2 : 1, rdevmajor: e.rdevmajor, rdevminor: e.rdevminor },
        e.data,
      );
    }
    add(CPIO_TRAILER, { mtime: 0 }, new Uint8Array(0));

    let size = 0;
    for (const r of records) {
      size += CPIO_HEADER_SIZE + r.name.length;
      size += pad4(size) + r.data.length;
      size += pad4(size);
    }
    const out = new Uint8Array(size); // zero-filled, so padding needs no writes
    let o = 0;
    for (const r of records) {
      out.set(r.header, o);
      out.set(r.name, o + CPIO_HEADER_SIZE);
      o += CPIO_HEADER_SIZE + r.name.length;
      o += pad4(o);
      out.set(r.data, o);
      o += r.data.length;
      o += pad4(o);
    }
    return out;
  }
}

function hex8(v: number, field: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new FormatError("CPIO_TOO_LARGE", `cpio: ${field} ${v} does not fit the newc format's 32 bits`);
  }
  return v.toString(16).padStart(CPIO_FIELD_WIDTH, "0");
}

/** One parsed entry, for tests and for checking archives Corral builds. */
export interface CpioEntry {
  name: string;
  ino: number;
  mode: number;
  nlink: number;
  rdevmajor: number;
  rdevminor: number;
  data: Uint8Array;
}

/** Parse a newc archive (entries up to the first trailer; no concatenation). */
export function readCpio(buf: Uint8Array): CpioEntry[] {
  const text = new TextDecoder("latin1");
  const out: CpioEntry[] = [];
  let o = 0;
  for (;;) {
    if (o + CPIO_HEADER_SIZE > buf.length)
      throw new FormatError("CPIO_BAD_ARCHIVE", "cpio: archive ends without a trailer");
    const head = text.decode(buf.subarray(o, o + CPIO_HEADER_SIZE));
    if (!head.startsWith(CPIO_MAGIC)) throw new FormatError("CPIO_BAD_ARCHIVE", `cpio: no newc magic at offset ${o}`);
    const f = {} as Record<CpioField, number>;
    CPIO_FIELDS.forEach((name, i) => {
      const at = CPIO_MAGIC.length + i * CPIO_FIELD_WIDTH;
      f[name] = parseInt(head.slice(at, at + CPIO_FIELD_WIDTH), 16);
    });
    const name = new TextDecoder().decode(buf.subarray(o + CPIO_HEADER_SIZE, o + CPIO_HEADER_SIZE + f.namesize - 1));
    o += CPIO_HEADER_SIZE + f.namesize;
    o += pad4(o);
    if (name === CPIO_TRAILER) return out;
    const data = buf.slice(o, o + f.filesize);
    o += f.filesize;
    o += pad4(o);
    out.push({ name, ino: f.ino, mode: f.mode, nlink: f.nlink, rdevmajor: f.rdevmajor, rdevminor: f.rdevminor, data });
  }
}
