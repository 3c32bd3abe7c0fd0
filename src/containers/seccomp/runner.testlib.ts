/**
 * Test support: a C program (built with gcc by the test) that loads a filter file with
 * seccomp(2) after PR_SET_NO_NEW_PRIVS, makes the system calls named on its command line and
 * prints their results, one line each: "<spec> ret=<r> errno=<e>".
 * A call spec is "nr[,arg0[,arg1...]]" (numbers in C syntax), or "i386:nr" for a 32-bit
 * `int $0x80` call from this 64-bit process.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { compileC, type CProgram } from "../../../tests/containers-lib/cc.js";

const SOURCE = `
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

static void out(const char *s) { (void)!write(1, s, strlen(s)); }

int main(int argc, char **argv) {
  static struct sock_filter insns[8192];
  char line[256];
  if (argc < 3) { out("usage: runner FILTER FLAGS CALL...\\n"); return 2; }
  if (strcmp(argv[1], "-") == 0) {
    out("unfiltered\\n");
  } else {
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror("open filter"); return 2; }
    size_t n = fread(insns, sizeof insns[0], 8192, f);
    fclose(f);
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 2; }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, strtoul(argv[2], NULL, 0), &prog) != 0) {
      snprintf(line, sizeof line, "load errno=%d\\n", errno); out(line); return 3;
    }
    out("loaded\\n");
  }
  for (int i = 3; i < argc; i++) {
    long r; int e = 0;
    if (strncmp(argv[i], "i386:", 5) == 0) {
      long nr = strtol(argv[i] + 5, NULL, 0);
      __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr) : "memory");
      if (r < 0 && r > -4096) { e = (int)-r; r = -1; }
    } else {
      unsigned long a[7] = {0};
      char *p = argv[i];
      for (int k = 0; k < 7 && *p; k++) { a[k] = strtoull(p, &p, 0); if (*p == ',') p++; }
      errno = 0;
      r = syscall((long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
      if (r == -1) e = errno;
    }
    snprintf(line, sizeof line, "%s ret=%ld errno=%d\\n", argv[i], r, e);
    out(line);
  }
  return 0;
}
`;

export interface CallResult {
  ret: number;
  errno: number;
}
export interface RunResult {
  loaded: boolean;
  loadErrno?: number;
  results: CallResult[];
  signal: NodeJS.Signals | null;
  status: number | null;
}

export class SeccompRunner {
  private readonly prog: CProgram;
  private n = 0;
  constructor() {
    this.prog = compileC("seccomp-runner", SOURCE);
  }
  run(filter: Uint8Array, calls: string[], flags = 0): RunResult {
    const file = join(this.prog.dir, `filter-${this.n++}.bpf`);
    writeFileSync(file, filter);
    return this.exec(file, calls, flags);
  }
  /** The same calls with no filter loaded: what the host kernel itself does with them. */
  probe(calls: string[]): RunResult {
    return this.exec("-", calls, 0);
  }
  private exec(file: string, calls: string[], flags: number): RunResult {
    const r = spawnSync(this.prog.exe, [file, String(flags), ...calls], { encoding: "utf8" });
    const lines = r.stdout.split("\n").filter((l) => l !== "");
    const load = /^load errno=(\d+)$/.exec(lines[0] ?? "");
    const results = lines.slice(1).map((l) => {
      const m = / ret=(-?\d+) errno=(\d+)$/.exec(l);
      if (m === null) throw new Error(`runner printed '${l}'`);
      return { ret: Number(m[1]), errno: Number(m[2]) };
    });
    return {
      loaded: lines[0] === "loaded",
      ...(load?.[1] !== undefined ? { loadErrno: Number(load[1]) } : {}),
      results,
      signal: r.signal,
      status: r.status,
    };
  }
  cleanup(): void {
    this.prog.cleanup();
  }
}
