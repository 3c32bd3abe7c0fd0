/**
 * Whether this thread's harts share guest RAM with harts on other threads (machine/threads/):
 * set once by the hart worker before it decodes anything. Decoding then chooses the shared-memory
 * forms of AMOs, LR/SC (ops-atomic.ts) and fences (kinds.ts FENCE, ops-sys.ts fenceI).
 */
export const THREADS = { on: false };
