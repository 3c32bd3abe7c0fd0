/**
 * Giving guest memory back to the host. Guest RAM lives in a WebAssembly.Memory (or, for RAM too
 * large for one, an ArrayBuffer that V8 gets from calloc); V8 maps either as private anonymous
 * memory, so its pages can be dropped with madvise(MADV_DONTNEED) (madvise(2): later reads of a
 * private anonymous mapping see zero-filled pages, which is what the balloon and free page
 * reporting promise the guest, virtio 1.2 §5.5.6).
 * koffi.address gives the ArrayBuffer's address (a TypedArray argument would be copied).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type Koffi from "koffi";
import { GuestRam, PAGE_SIZE, type GuestMemory } from "../machine/memory.js";
import type { VirtioDeviceContext } from "../devices/virtio/device.js";
import { VirtioBalloon } from "../devices/virtio/balloon.js";

/** asm-generic/mman-common.h */
const MADV_DONTNEED = 4;

interface Ffi {
  madvise: (addr: bigint, len: number, advice: number) => number;
  address: (buf: ArrayBuffer) => bigint;
}
let ffi: Ffi | null | undefined;

function load(): Ffi | null {
  if (ffi !== undefined) return ffi;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof Koffi;
    const fn = koffi.load("libc.so.6").func("int madvise(uintptr_t addr, size_t length, int advice)");
    ffi = { madvise: (addr, len, advice) => fn(addr, len, advice) as number, address: (buf) => koffi.address(buf) };
  } catch {
    ffi = null; // no FFI: zeroing keeps the pages resident, but the guest sees the same thing
  }
  return ffi;
}

/**
 * Zero [gpa, gpa+len) of guest RAM and give the host pages wholly inside it back to the kernel.
 * A calloc'd ArrayBuffer starts 16 bytes into its mapping (malloc's chunk header), so a guest page
 * need not cover a whole host page on its own: callers merge adjacent ranges first. Returns the
 * bytes released.
 */
export function releaseRange(ram: GuestRam, gpa: number, len: number): number {
  if (len <= 0 || !ram.contains(gpa, len)) return 0;
  const off = gpa - ram.base;
  const f = load();
  let released = 0;
  if (f) {
    const base = Number(f.address(ram.buffer)) + ram.byteOffset;
    const a = Math.ceil((base + off) / PAGE_SIZE) * PAGE_SIZE - base;
    const b = Math.floor((base + off + len) / PAGE_SIZE) * PAGE_SIZE - base;
    if (b > a && f.madvise(BigInt(base + a), b - a, MADV_DONTNEED) === 0) {
      ram.u8.fill(0, off, a);
      ram.u8.fill(0, b, off + len);
      released = b - a;
    }
  }
  if (released === 0) ram.u8.fill(0, off, off + len);
  // The range now reads as zeros: drop any code the CPU had decoded from it.
  ram.noteWrite(off, len);
  return released;
}

/**
 * A balloon whose released pages go back to the host. Ranges the device releases during one
 * queue notification are merged (Linux inflates runs of neighbouring pages) and dropped before
 * notify returns, so the guest never runs between the release and the madvise.
 */
export class ReleasingBalloon extends VirtioBalloon {
  private pending: [number, number][] = [];
  private memory: GuestMemory | undefined;
  /** Bytes handed back to the host kernel so far. */
  releasedBytes = 0;

  constructor(name?: string) {
    super({
      ...(name !== undefined ? { name } : {}),
      release: (ctx: VirtioDeviceContext, gpa: number, len: number) => {
        this.memory = ctx.memory;
        const last = this.pending[this.pending.length - 1];
        if (last && last[0] + last[1] === gpa) last[1] += len;
        else if (last && gpa + len === last[0]) {
          last[0] = gpa;
          last[1] += len;
        } else this.pending.push([gpa, len]);
      },
    });
  }

  override notify(index: number): void {
    super.notify(index);
    const mem = this.memory;
    for (const [gpa, len] of this.pending.splice(0)) {
      if (mem instanceof GuestRam) this.releasedBytes += releaseRange(mem, gpa, len);
      else mem?.fill(gpa, len, 0);
    }
  }
}

/** This process's resident memory (VmRSS), bytes. */
export function residentBytes(pid: number | "self" = "self"): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readStatus(pid));
  return m ? Number(m[1]) * 1024 : 0;
}

function readStatus(pid: number | "self"): string {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return "";
  }
}
