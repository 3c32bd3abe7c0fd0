import { fileURLToPath } from "node:url";

/**
 * The command the benches time Corral with: bin/corral, the launcher a user's `corral` runs (npm's
 * bin link points at it), which starts Node without NODE_EXTRA_CA_CERTS (docs/benchmarks.md,
 * "Start-up: a launcher that is not Node"). Spawned as a program itself, not as `node FILE`.
 */
export const CORRAL = fileURLToPath(new URL("../../../bin/corral", import.meta.url));
