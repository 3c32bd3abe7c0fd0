/**
 * The guest agent: native/corral-agent.c, a static riscv64 Linux program with no C library,
 * built from source by `npm run build` (scripts/build-native.mjs, with a riscv64 cross compiler)
 * into dist/native/corral-agent. It serves the virtio-console port of src/vm/agent/protocol.ts.
 * /init starts it (init-script.ts) in a respawn loop, exempt from the OOM killer; each exec is one
 * fork of it, which puts the command's own oom_score_adj back to 0.
 *
 * A shell script did this job before (protocol 3): five guest processes per `exec true`, each a
 * fork and exec of busybox. The compiled agent runs the command with one fork and reads and
 * writes its streams itself.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ImageError } from "./errors.js";

/** Where /init finds the agent. */
export const GUEST_AGENT_PATH = "/bin/corral-agent";
/** The agent's pid, e.g. for tests that make it stop answering. */
export const GUEST_AGENT_PID = "/run/corral-agent/pid";
/** The agent the build made (dist/src/image/agent.js -> dist/native/corral-agent). */
export const AGENT_BINARY = fileURLToPath(new URL("../../native/corral-agent", import.meta.url));
/** Its source, for messages and tests (dist/src/image -> native/). */
export const AGENT_SOURCE = fileURLToPath(new URL("../../../native/corral-agent.c", import.meta.url));

let cached: Uint8Array | undefined;

/** The built agent's bytes; AGENT_NOT_BUILT when the build has not made it. */
export function guestAgent(): Uint8Array {
  if (cached) return cached;
  if (!existsSync(AGENT_BINARY))
    throw new ImageError(
      "AGENT_NOT_BUILT",
      `the guest agent ${AGENT_BINARY} is not built: run 'npm run build' (it needs a riscv64 C compiler: apt-get install gcc-riscv64-unknown-elf)`,
    );
  cached = new Uint8Array(readFileSync(AGENT_BINARY));
  return cached;
}
