import { describeFailure } from "../errors.js";

/** Print a failure as one line (errors.ts describeFailure); returns the exit status. */
export function reportError(e: unknown): number {
  const { text, code } = describeFailure(e);
  process.stderr.write(text);
  return code;
}
