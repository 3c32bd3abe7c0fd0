/**
 * The console log of a detached VM ($CORRAL_HOME/vms/NAME/console.log), kept under a size cap.
 * What the guest prints is the guest's choice: without a cap, a guest printing without end fills
 * the host's file system. Past the cap the log starts again from empty with a note saying so, so
 * it always holds the latest output (what `corral console` and a failed start need). Writes are
 * synchronous so that the cut is exact (nothing still queued lands after it).
 */
import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";

export const CONSOLE_LOG_MAX = 16 << 20;

export class ConsoleLog {
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly path: string,
    private readonly max = CONSOLE_LOG_MAX,
  ) {
    // O_APPEND: after a cut, writes land at the new end of the file.
    this.fd = openSync(path, "a");
  }

  /** Guest output, or a line of Corral's own. */
  write(data: Uint8Array | string): void {
    if (this.fd === undefined) return;
    const b = typeof data === "string" ? Buffer.from(data) : data;
    this.size += b.length;
    if (this.size > this.max) {
      ftruncateSync(this.fd, 0);
      const note = Buffer.from(`[the console log passed ${this.max} bytes and was cut here]\r\n`);
      writeSync(this.fd, note);
      this.size = note.length + b.length;
    }
    writeSync(this.fd, b);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
