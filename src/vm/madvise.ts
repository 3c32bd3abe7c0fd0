/**
 * Giving guest memory back to the host. Guest RAM lives in a WebAssembly.Memory (or, for RAM too
 * large for one, an ArrayBuffer that V8 gets from calloc); V8 maps either as private anonymous
 * memory, so its pages can be dropped with madvise(MADV_DONTNEED) (madvise(2): later reads of a
 * private anonymous mapping see zero-filled pages, which is what the balloon and free page
 * reporting promise the guest, virtio 1.2 §5.5.6). A booted VM's RAM is a shared mapping of a
 * memory file instead (GuestRam.backWithFile, for fork): its pages are dropped from the file with
 * MADV_REMOVE, with the same zeros after. The call itself is src/sys/mem.ts.
 */
import { VmError } from "./errors.js";
import { adviseMergeable, dropPages, hostAddress } from "../sys/mem.js";
import { isCorralError } from "../errors.js";
import { readRollup, readSmaps } from "../sys/smaps.js";
import type { RamPages } from "./control/protocol.js";
import { GuestRam, PAGE_SIZE, type GuestMemory } from "../machine/memory.js";
import type { VirtioDeviceContext } from "../devices/virtio/device.js";
import { VirtioBalloon } from "../devices/virtio/balloon.js";

/**
 * Zero [gpa, gpa+len) of guest RAM and give the host pages wholly inside it back to the kernel.
 * A calloc'd ArrayBuffer starts 16 bytes into its mapping (malloc's chunk header), so a guest page
 * need not cover a whole host page on its own: callers merge adjacent ranges first. Returns the
 * bytes released.
 */
export function releaseRange(ram: GuestRam, gpa: number, len: number): number {
  if (len <= 0 || !ram.contains(gpa, len)) return 0;
  const off = gpa - ram.base;
  const address = hostAddress(ram.buffer);
  let released = 0;
  // Without the FFI, zeroing keeps the pages resident, but the guest sees the same thing.
  if (address !== undefined) {
    const base = address + ram.byteOffset;
    const a = Math.ceil((base + off) / PAGE_SIZE) * PAGE_SIZE - base;
    const b = Math.floor((base + off + len) / PAGE_SIZE) * PAGE_SIZE - base;
    if (b > a && dropPages(base + a, b - a, ram.fileShared)) {
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

/** The environment variable that makes --share-memory the host's default (README, "Shared pages"). */
export const SHARE_MEMORY_ENV = "CORRAL_SHARE_MEMORY";

/** The host's default for a spec without `shareMemory`: CORRAL_SHARE_MEMORY=1 (or on, true); off otherwise. */
export function shareMemoryDefault(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env[SHARE_MEMORY_ENV] ?? "").trim().toLowerCase();
  if (v === "" || v === "0" || v === "off" || v === "false") return false;
  if (v === "1" || v === "on" || v === "true") return true;
  throw new VmError(
    "BAD_SHARE_MEMORY",
    `${SHARE_MEMORY_ENV}='${v}' is not a setting: use 1 (share guest RAM with KSM by default) or 0`,
    { exitCode: 2 },
  );
}

/** The host address range of guest RAM, whole host pages only (a calloc'd buffer starts 16 bytes in). */
export function ramHostRange(ram: GuestRam): { start: number; len: number } | undefined {
  const address = hostAddress(ram.buffer);
  if (address === undefined) return undefined;
  const base = address + ram.byteOffset;
  const start = Math.ceil(base / PAGE_SIZE) * PAGE_SIZE;
  const end = Math.floor((base + ram.size) / PAGE_SIZE) * PAGE_SIZE;
  return { start, len: end - start };
}

/**
 * Offer guest RAM to the host kernel's same-page merging (madvise MADV_MERGEABLE on the range of
 * the WebAssembly.Memory, or the ArrayBuffer, that holds it: the RAM's own part only, not the
 * harts' registers and TLBs in front of it). ksmd then merges identical pages of every VM that
 * did the same, copy-on-write, once KSM runs (`corral host ksm on`). Returns the range.
 */
export function shareRam(ram: GuestRam): { start: number; len: number } {
  const r = ramHostRange(ram);
  const refuse = (why: string): VmError =>
    new VmError("SHARE_MEMORY_FAILED", `cannot share guest memory with KSM: ${why}`, { exitCode: 2 });
  if (r === undefined) throw refuse("the system-call layer (koffi) did not load");
  try {
    adviseMergeable(r.start, r.len, true);
  } catch (e) {
    throw refuse(
      isCorralError(e) && e.message.endsWith("EINVAL")
        ? "this host's kernel has no KSM (CONFIG_KSM): start the VM without --share-memory"
        : e instanceof Error
          ? e.message
          : String(e),
    );
  }
  return r;
}

/**
 * Guest RAM's pages in the host, summed over the mappings its range covers in /proc/self/smaps
 * (madvise splits a mapping where the advice starts): this process must be the VM's.
 */
export function ramPages(ram: GuestRam): RamPages | undefined {
  const r = ramHostRange(ram);
  if (r === undefined) return undefined;
  const maps = readSmaps("self").filter((m) => m.start < r.start + r.len && m.end > r.start);
  if (maps.length === 0) return undefined;
  const sum = (...keys: string[]): number =>
    maps.reduce((a, m) => a + keys.reduce((b, k) => b + (m.fields[k] ?? 0), 0), 0);
  return {
    mergeable: maps.every((m) => m.vmFlags.includes("mg")),
    resident: sum("Rss"),
    private: sum("Private_Clean", "Private_Dirty"),
    shared: sum("Shared_Clean", "Shared_Dirty"),
    ksm: maps.every((m) => "KSM" in m.fields) ? sum("KSM") : undefined,
    processPss: readRollup("self")?.["Pss"] ?? 0,
  };
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
