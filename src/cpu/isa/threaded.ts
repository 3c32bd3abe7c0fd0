/**
 * Whether this thread's harts share guest RAM with harts on other threads (machine/threads/):
 * set once by the hart worker before it decodes anything. Decoding then chooses the shared-memory
 * forms of AMOs, LR/SC (ops-atomic.ts) and fences (kinds.ts FENCE, ops-sys.ts fenceI).
 */
export const THREADS = { on: false };

/** PAUSE (Zihintpause: FENCE with predecessor W, successor none, fm, rs1 and rd 0), as encoded. */
export const PAUSE = 0x0100000f;

/**
 * Pause-loop exits (ops-sys.ts pause): PAUSEs this thread's hart ran since its worker last looked,
 * and whether it spun long enough to hand its host core away (machine/threads/hart-worker.ts).
 */
export const SPIN = { pauses: 0, exit: false };
