/**
 * Kernel modules for the initramfs. Debian's package carries no modules.dep (its postinst runs
 * depmod on the target), so dependencies are read from each module's `.modinfo` section
 * ("depends=a,b", kernel's include/linux/module.h MODULE_INFO) with our ELF reader. Modules are
 * stored as .ko.xz; they are decompressed with the host's xz here, once, rather than by the
 * emulated guest at every boot.
 */
import { childProcess } from "../builtins.js";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { EM_RISCV, parseElf } from "../formats/elf.js";
import { ImageError } from "./errors.js";

export interface ResolvedModule {
  /** Canonical name ('-' written as '_'), e.g. "virtio_blk". */
  name: string;
  /** Path of the file in the modules tree. */
  path: string;
  /** The uncompressed .ko. */
  data: Uint8Array;
  /** Canonical names of the modules it needs loaded first (built-in ones left out). */
  deps: string[];
}

const canon = (name: string): string => name.replace(/-/g, "_");
const MODULE_FILE = /\.ko(\.xz|\.zst|\.gz)?$/;

/** name → path of every module file under `modulesDir` (a /lib/modules/<version> tree). */
export function indexModules(modulesDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (MODULE_FILE.test(e.name)) out.set(canon(e.name.replace(MODULE_FILE, "")), p);
    }
  };
  walk(join(modulesDir, "kernel"));
  return out;
}

/** Names of modules compiled into the kernel (modules.builtin): nothing to load for those. */
export function builtinModules(modulesDir: string): Set<string> {
  const file = join(modulesDir, "modules.builtin");
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => canon(basename(l).replace(MODULE_FILE, ""))),
  );
}

/** The module's bytes, decompressed if needed (xz/zstd/gzip through the host's tools). */
export function readModule(path: string): Uint8Array {
  const tool = path.endsWith(".xz") ? "xz" : path.endsWith(".zst") ? "zstd" : path.endsWith(".gz") ? "gzip" : undefined;
  if (!tool) return new Uint8Array(readFileSync(path));
  try {
    return new Uint8Array(
      childProcess().execFileSync(tool, ["-dc", path], { maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "pipe"] }),
    );
  } catch (e) {
    throw new ImageError("MODULE_UNREADABLE", `could not decompress ${path} with ${tool} (install ${tool}?)`, {
      cause: e,
    });
  }
}

/** `.modinfo` key=value strings of a module (NUL-separated in the section). */
export function modinfo(ko: Uint8Array, name = "module"): Map<string, string[]> {
  const elf = parseElf(ko, { name, machine: EM_RISCV });
  const sec = elf.sections.find((s) => s.name === ".modinfo");
  const out = new Map<string, string[]>();
  if (!sec) return out;
  const text = new TextDecoder().decode(ko.subarray(sec.offset, sec.offset + sec.size));
  for (const kv of text.split("\0")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) continue;
    const k = kv.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), kv.slice(eq + 1)]);
  }
  return out;
}

/**
 * The modules to load for `names`, dependencies first, each once. Built-in modules are skipped;
 * an unknown name is MODULE_NOT_FOUND.
 */
export function resolveModules(modulesDir: string, names: readonly string[]): ResolvedModule[] {
  const index = indexModules(modulesDir);
  const builtin = builtinModules(modulesDir);
  const order: ResolvedModule[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (raw: string, wantedBy?: string): void => {
    const name = canon(raw);
    if (builtin.has(name) || state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      throw new ImageError("MODULE_CYCLE", `kernel modules depend on each other in a cycle through ${name}`);
    }
    const path = index.get(name);
    if (!path) {
      const by = wantedBy ? ` (needed by ${wantedBy})` : "";
      throw new ImageError("MODULE_NOT_FOUND", `kernel module ${name}${by} is not in ${modulesDir}`);
    }
    state.set(name, "visiting");
    const data = readModule(path);
    const deps = (modinfo(data, path).get("depends") ?? []).flatMap((d) => d.split(",")).filter(Boolean);
    for (const d of deps) visit(d, name);
    state.set(name, "done");
    order.push({ name, path, data, deps: deps.map(canon).filter((d) => !builtin.has(d)) });
  };
  for (const n of names) visit(n);
  return order;
}

/** `roots` and every module they need, transitively, among `resolved` (resolveModules's result). */
export function closureOf(resolved: readonly ResolvedModule[], roots: readonly string[]): Set<string> {
  const byName = new Map(resolved.map((m) => [m.name, m]));
  const out = new Set<string>();
  const walk = (n: string): void => {
    if (out.has(n)) return;
    out.add(n);
    for (const d of byName.get(n)?.deps ?? []) walk(d);
  };
  for (const r of roots) walk(canon(r));
  return out;
}
