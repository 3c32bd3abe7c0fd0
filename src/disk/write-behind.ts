/**
 * Write-behind for a raw image: a write's data is copied into a slot of a ring shared with a
 * worker thread, the request completes, and the worker stores it in the file (writer.ts)
 * while the guest runs on. The host's own cost of a buffered write (page-cache pages allocated
 * and filled: 50 to 400 ms for 256 MiB on these machines, docs/benchmarks.md) then lands on the
 * other core instead of the vCPU's.
 *
 * This is the volatile write cache that VIRTIO_BLK_F_FLUSH announces (virtio 1.2 §5.2.3; Linux's
 * Documentation/block/writeback_cache_control.rst): a completed write is not yet durable, a
 * completed FLUSH makes every write completed before it so. So flush() first waits for the ring
 * to empty, then fdatasync()s; close() does the same. Reads, discards and write-zeroes wait for
 * the ring to empty first, so they see every completed write. A write that fails in the worker
 * (a full host disk) is reported by the next write or flush as the host's error (the guest gets
 * IOERR), as a disk reports a failed cached write at the next flush. Writes larger than a slot
 * are written at once, after the ring empties.
 */
import { Worker } from "node:worker_threads";
import { getSystemErrorName } from "node:util";
import { CorralError } from "../errors.js";
import { DiskReadOnlyError, eachAt, type DiskBackend } from "./backend.js";
import type { RawDisk } from "./raw.js";
import { Ring, SLOTS, SLOT_BYTES } from "./write-ring.js";
import { DiskError } from "./errors.js";

/** How long a write may take the worker before the device gives up on it (a stuck host disk). */
const STALL_MS = 60_000;

export class WriteBehindDisk implements DiskBackend {
  private readonly ring = new Ring();
  private worker: Worker | undefined;

  /** `workerDelayMs`: the worker waits this long before each write (tests slow it on purpose). */
  constructor(
    private readonly inner: RawDisk,
    opts: { workerDelayMs?: number } = {},
  ) {
    if (inner.readOnly) throw new DiskReadOnlyError(inner.path);
    this.ring.delayMs = opts.workerDelayMs ?? 0;
    this.worker = new Worker(new URL("./writer.js", import.meta.url), {
      workerData: { sab: this.ring.sab, fd: inner.handle },
    });
    // The worker must not keep a finished process alive; close() stops it.
    this.worker.unref();
    this.worker.on("error", () => this.ring.fail(-5));
  }

  get path(): string {
    return this.inner.path;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return false;
  }
  /** Whether the worker thread is still there (until close). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Wait until the worker has stored all but `left` of the queued writes. */
  private drain(left = 0): void {
    for (;;) {
      const tail = this.ring.tail;
      if (((this.ring.head - tail) | 0) <= left) return;
      // The worker's own errors come as events, which cannot arrive while this thread waits: a
      // worker that makes no progress for STALL_MS is taken for dead, and the request fails
      // instead of hanging the VM.
      if (!this.ring.waitTail(tail, STALL_MS)) {
        throw new DiskError(
          "DISK_IO",
          `the writer thread of disk image ${this.inner.path} stopped answering; stop the VM and check the host's disk`,
        );
      }
    }
  }

  /** Throw the failure the worker recorded, if any (once). */
  private report(): void {
    const errno = this.ring.takeError();
    if (errno !== 0) {
      const name = getSystemErrorName(errno);
      throw Object.assign(new Error(`write to ${this.inner.path} failed: ${name}`), { code: name, errno });
    }
  }

  read(offset: number, dst: Uint8Array): void {
    this.drain();
    this.inner.read(offset, dst);
  }

  readv(offset: number, dsts: readonly Uint8Array[]): void {
    this.drain();
    this.inner.readv(offset, dsts);
  }

  write(offset: number, src: Uint8Array): void {
    this.writev(offset, [src]);
  }

  writev(offset: number, srcs: readonly Uint8Array[]): void {
    this.report();
    const total = srcs.reduce((n, b) => n + b.length, 0);
    if (total > SLOT_BYTES || this.worker === undefined) {
      this.drain();
      this.inner.writev(offset, srcs);
      return;
    }
    this.drain(SLOTS - 1);
    const area = this.ring.area();
    eachAt(0, srcs, (b, at) => area.set(b, at));
    this.ring.publish(offset, total);
  }

  flush(): void {
    this.drain();
    this.report();
    this.inner.flush();
  }

  discard(offset: number, len: number): void {
    this.drain();
    this.inner.discard(offset, len);
  }

  writeZeroes(offset: number, len: number): void {
    this.drain();
    this.inner.writeZeroes(offset, len);
  }

  close(): void {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    try {
      this.drain();
      this.ring.stop();
      void worker.terminate();
      this.report();
    } catch (e) {
      throw e instanceof CorralError
        ? e
        : new DiskError("DISK_IO", `disk image ${this.inner.path}: ${(e as Error).message}`, { cause: e });
    } finally {
      this.inner.close();
    }
  }
}
