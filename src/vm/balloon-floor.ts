/**
 * The least memory `corral vm memory` may leave a guest (issue 14 item 3). Below it the guest's
 * kernel OOM-kills what it can, the agent included, and the VM can no longer be managed.
 *
 * The guest's usable memory is the target minus what the kernel keeps for itself from boot, and
 * the booted guest needs some of that to run. Measured with the default guest at 512M:
 * - MemTotal is 62 MiB below the RAM: the kernel's image and boot-time allocations (56 MiB) plus
 *   its struct page array, 64 bytes per 4 KiB page, so 1/64 of the RAM;
 * - the booted guest uses 26 MiB of the rest (`free`: kernel allocations, the initramfs in tmpfs);
 * - the agent was OOM-killed with 34 MiB usable and served execs with 48 MiB.
 * So the floor keeps 64 MiB usable: the guest's own 26, an exec's processes and page cache.
 */
const KERNEL_RESERVED = 56 * 2 ** 20;
const GUEST_WORKING_SET = 64 * 2 ** 20;
const MIB = 2 ** 20;

/** The smallest balloon target for a VM of `memory` bytes, rounded up to whole MiB. */
export function minGuestMemory(memory: number): number {
  return Math.ceil((KERNEL_RESERVED + memory / 64 + GUEST_WORKING_SET) / MIB) * MIB;
}
