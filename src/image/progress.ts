/**
 * Download progress on stderr: a redrawn bar on a terminal, and on anything else (logs, CI) a
 * plain line per 10% so the output stays readable as a file.
 */
export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Progress {
  /** Fraction done, 0..1. Values going backwards are ignored. */
  update(fraction: number): void;
  /** Mark the work finished and end the line. */
  done(): void;
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0);

export function createProgress(label: string, totalBytes: number, out: ProgressSink = process.stderr): Progress {
  let last = -1;
  let finished = false;
  const render = (f: number): void => {
    const pct = Math.floor(f * 100);
    const sizes = `${mb(f * totalBytes)}/${mb(totalBytes)} MB`;
    if (out.isTTY) {
      const width = Math.max(10, Math.min(40, (out.columns || 80) - label.length - sizes.length - 16));
      const full = Math.round(f * width);
      out.write(
        `\r${label} [${"#".repeat(full)}${".".repeat(width - full)}] ${String(pct).padStart(3)}% ${sizes}\x1b[K`,
      );
    } else {
      out.write(`${label}: ${pct}% (${sizes})\n`);
    }
  };
  return {
    update(fraction) {
      if (finished) return;
      const f = Math.max(0, Math.min(1, fraction));
      // On a terminal redraw at each whole percent; in a log, every 10%.
      const step = out.isTTY ? Math.floor(f * 100) : Math.floor(f * 10) * 10;
      if (step <= last) return;
      last = step;
      render(f);
    },
    done() {
      if (finished) return;
      if (last < 100) render(1);
      finished = true;
      if (out.isTTY) out.write("\n");
    },
  };
}
