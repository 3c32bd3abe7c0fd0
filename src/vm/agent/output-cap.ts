/**
 * What an exec keeps of its command's stdout and stderr: up to a limit a stream (the API's
 * ExecOptions.maxOutputBytes, a first command's FirstExec.maxOutputBytes). The guest is not
 * trusted to stop writing, so whoever holds the cap kills the command once a stream goes past it.
 */

/** The default limit: 16 MiB of each stream. */
export const DEFAULT_MAX_OUTPUT = 16 * 2 ** 20;

export class OutputCap {
  private readonly kept: [Buffer[], Buffer[]] = [[], []];
  private readonly size = [0, 0];
  /** The first stream that went past the limit, if one did. */
  over: "stdout" | "stderr" | undefined;

  constructor(readonly limit: number) {}

  /**
   * Keep what of `data`, written to `fd` (1 or 2), fits under the limit; returns that part (empty
   * once the stream is full). `over` is set when some of `data` did not fit.
   */
  add(fd: number, data: Buffer): Buffer {
    const i = fd === 1 ? 0 : 1;
    const room = this.limit - this.size[i]!;
    const take = data.length > room ? data.subarray(0, room) : data;
    if (take.length > 0) {
      this.kept[i].push(take);
      this.size[i]! += take.length;
    }
    if (take.length < data.length) this.over ??= fd === 1 ? "stdout" : "stderr";
    return take;
  }

  /** Everything kept of stream `fd` (1 or 2). */
  bytes(fd: number): Buffer {
    return Buffer.concat(this.kept[fd === 1 ? 0 : 1]);
  }
}
