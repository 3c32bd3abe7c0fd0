/**
 * Giving guest memory back to the host. Guest RAM lives in a WebAssembly.Memory (or, for RAM too
 * large for one, an ArrayBuffer that V8 gets from calloc); V8 maps either as private anonymous
 * memory, so its pages can be dropped with madvise(MADV_DONTNEED) (madvise(2): later reads of a
 * private anonymous mapping see zero-filled pages, which is what the balloon and free page
 * reporting promise the guest, virtio 1.2 §5.5.6). The call itself is src/sys/mem.ts.
 */
import { dropPages, hostAddress } from "../sys/mem.js";
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
    if (b > a && dropPages(base + a, b - a)) {
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
