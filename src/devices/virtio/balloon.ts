/**
 * virtio-balloon, the memory balloon (virtio 1.2 §5.5): the host sets a target (num_pages) and the
 * guest driver inflates (gives pages to the host) or deflates (takes them back) towards it; a
 * statistics queue reports the guest's memory figures; free page reporting hands over ranges of
 * free guest memory.
 *
 * Returning memory to the host: this device zeroes the pages the guest gives up (inflate, free
 * page reports). On an ArrayBuffer that keeps them resident; the host really gets memory back only
 * when guest RAM is a shared mapping on which the released range gets madvise(MADV_DONTNEED) (the
 * kernel drops the pages; they read as zeros afterwards, which is what zeroing emulates here). A
 * later change to guest memory will do that through `release`.
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import type { Virtqueue } from "./virtqueue.js";
import { ConfigSpace } from "./config-space.js";
import { gather } from "./chain-io.js";
import { DeviceId, feature, hasFeature } from "./spec.js";
import { PAGE_SIZE } from "../../machine/memory.js";
import { arr, nums, num, type SavedState } from "../../snapshot/state.js";

/** §5.5.3 feature bits. */
export const BalloonFeature = {
  MUST_TELL_HOST: 0,
  STATS_VQ: 1,
  DEFLATE_ON_OOM: 2,
  FREE_PAGE_HINT: 3,
  PAGE_POISON: 4,
  REPORTING: 5,
} as const;

/** §5.5.4 struct virtio_balloon_config. */
export const BALLOON_CONFIG = { size: 16, numPages: 0, actual: 4, freePageHintCmdId: 8, poisonVal: 12 } as const;

/** §5.5.6.3 struct virtio_balloon_stat: le16 tag, le64 val, packed. */
export const BALLOON_STAT = { size: 10, tag: 0, val: 2 } as const;

/** §5.5.6.3 statistic tags. */
export const BalloonStat = {
  SWAP_IN: 0,
  SWAP_OUT: 1,
  MAJFLT: 2,
  MINFLT: 3,
  MEMFREE: 4,
  MEMTOT: 5,
  AVAIL: 6,
  CACHES: 7,
  HTLB_PGALLOC: 8,
  HTLB_PGFAIL: 9,
} as const;

/** §5.5.6: balloon page frame numbers are always in 4 KiB units. */
const PFN_SHIFT = 12;
const MAX_PFNS_PER_REQUEST = 1 << 16;

export interface BalloonOptions {
  name?: string;
  queueSize?: number;
  /** Give a guest-physical range back to the host (default: zero it, see the file comment). */
  release?: (ctx: VirtioDeviceContext, gpa: number, len: number) => void;
}

type Role = "inflate" | "deflate" | "stats" | "reporting";

export class VirtioBalloon implements VirtioDevice {
  readonly deviceId = DeviceId.BALLOON;
  readonly name: string;
  readonly features = feature(BalloonFeature.STATS_VQ) | feature(BalloonFeature.REPORTING);
  readonly queueMaxSizes: readonly number[];
  readonly configSize = BALLOON_CONFIG.size;
  /** Latest statistics from the guest, by tag. */
  readonly stats = new Map<number, bigint>();
  /** Called when new statistics arrive. */
  onStats: (stats: ReadonlyMap<number, bigint>) => void = () => {};
  private readonly config = new ConfigSpace(BALLOON_CONFIG.size);
  private readonly release: (ctx: VirtioDeviceContext, gpa: number, len: number) => void;
  private ctx: VirtioDeviceContext | undefined;
  private roles: Role[] = [];
  /** Pages currently in the balloon (given to the host). */
  private readonly inflated = new Set<number>();
  /** The stats buffer the device holds until it wants fresh figures (§5.5.6.3). */
  private statsHead: number | undefined;
  reportedBytes = 0;

  constructor(opts: BalloonOptions = {}) {
    this.name = opts.name ?? "balloon0";
    const qs = opts.queueSize ?? 128;
    this.queueMaxSizes = [qs, qs, qs, qs];
    this.release = opts.release ?? ((ctx, gpa, len) => ctx.memory.fill(gpa, len, 0));
  }

  /** Ask the guest to hold `pages` 4 KiB pages in the balloon (memory given back to the host). */
  setTarget(pages: number): void {
    this.config.set32(BALLOON_CONFIG.numPages, pages);
    this.ctx?.configChanged();
  }

  get target(): number {
    return this.config.get32(BALLOON_CONFIG.numPages);
  }

  /** Pages the driver says are in the balloon (it writes `actual`). */
  get actual(): number {
    return this.config.get32(BALLOON_CONFIG.actual);
  }

  /** Pages the device has seen inflated and not deflated. */
  get inflatedPages(): number {
    return this.inflated.size;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }

  /** Only `actual` is written by the driver (§5.5.4). */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset < BALLOON_CONFIG.actual || offset + size > BALLOON_CONFIG.actual + 4) return;
    const cur = new DataView(this.config.bytes.buffer);
    if (size === 4) cur.setUint32(offset, value, true);
    else if (size === 2) cur.setUint16(offset, value, true);
    else cur.setUint8(offset, value);
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    // Absent queues are skipped in the numbering, as Linux's and QEMU's balloons do.
    this.roles = ["inflate", "deflate"];
    if (hasFeature(ctx.features, BalloonFeature.STATS_VQ)) this.roles.push("stats");
    if (hasFeature(ctx.features, BalloonFeature.REPORTING)) this.roles.push("reporting");
  }

  notify(index: number): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(index);
    const role = this.roles[index];
    if (!ctx || !vq || !role) return;
    if (role === "stats") this.receiveStats(ctx, vq);
    else {
      for (let chain = vq.pop(); chain; chain = vq.pop()) {
        if (role === "reporting") {
          // Free page reporting: the ranges are the chain's (device-writable) buffers (§5.5.6.6).
          for (const s of chain.writable) this.release(ctx, s.addr, s.len);
          this.reportedBytes += chain.writableLen;
        } else this.pfns(ctx, gather(ctx.memory, chain.readable, MAX_PFNS_PER_REQUEST * 4), role === "inflate");
        vq.push(chain.head, 0);
      }
    }
    ctx.signalUsed(index);
  }

  /** Inflate or deflate a list of le32 page frame numbers; PFNs outside guest RAM are ignored. */
  private pfns(ctx: VirtioDeviceContext, bytes: Uint8Array, inflate: boolean): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i + 4 <= bytes.length; i += 4) {
      const pfn = view.getUint32(i, true);
      const gpa = pfn * 2 ** PFN_SHIFT;
      if (!ctx.memory.contains(gpa, PAGE_SIZE)) continue;
      if (inflate) {
        if (!this.inflated.has(pfn)) this.release(ctx, gpa, PAGE_SIZE);
        this.inflated.add(pfn);
      } else this.inflated.delete(pfn);
    }
  }

  private receiveStats(ctx: VirtioDeviceContext, vq: Virtqueue): void {
    for (let chain = vq.pop(); chain; chain = vq.pop()) {
      const bytes = gather(ctx.memory, chain.readable, BALLOON_STAT.size * 64);
      const view = new DataView(bytes.buffer);
      for (let at = 0; at + BALLOON_STAT.size <= bytes.length; at += BALLOON_STAT.size) {
        this.stats.set(view.getUint16(at + BALLOON_STAT.tag, true), view.getBigUint64(at + BALLOON_STAT.val, true));
      }
      // Keep one buffer to return when new figures are wanted; a second one is returned at once.
      if (this.statsHead === undefined) this.statsHead = chain.head;
      else vq.push(chain.head, 0);
      this.onStats(this.stats);
    }
  }

  /** Ask the guest for fresh statistics: return the held buffer (§5.5.6.3). */
  requestStats(): boolean {
    const ctx = this.ctx;
    const index = this.roles.indexOf("stats");
    const vq = index >= 0 ? ctx?.queue(index) : undefined;
    if (!ctx || !vq || this.statsHead === undefined) return false;
    vq.push(this.statsHead, 0);
    this.statsHead = undefined;
    ctx.signalUsed(index);
    return true;
  }

  /** Target and actual (its configuration), inflated pages and the statistics buffer it holds. */
  saveState(): SavedState {
    return {
      config: arr(this.config.bytes),
      roles: this.roles,
      inflated: [...this.inflated],
      statsHead: this.statsHead ?? -1,
      reportedBytes: this.reportedBytes,
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | undefined): void {
    this.ctx = ctx;
    const cfg = nums(s, "config");
    if (cfg.length !== BALLOON_CONFIG.size) throw new RangeError("balloon config size");
    this.config.bytes.set(cfg);
    const roles = (s["roles"] ?? []) as Role[];
    this.roles = roles.filter((r) => ["inflate", "deflate", "stats", "reporting"].includes(r));
    this.inflated.clear();
    for (const p of nums(s, "inflated")) this.inflated.add(p);
    const head = num(s, "statsHead");
    this.statsHead = head >= 0 ? head : undefined;
    this.reportedBytes = num(s, "reportedBytes");
  }

  reset(): void {
    this.ctx = undefined;
    this.roles = [];
    this.statsHead = undefined;
    this.inflated.clear();
    this.config.set32(BALLOON_CONFIG.actual, 0);
  }

  close(): void {
    this.reset();
  }
}
