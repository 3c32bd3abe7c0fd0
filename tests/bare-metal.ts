// Test support: small bare-metal programs built from assembly with Debian's bare-metal RISC-V
// toolchain (as tests/isa/build.mjs does), and a child process to watch run them.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/tests/ -> repository root
export const CORRAL = join(ROOT, "bin", "corral.js");
const CC = process.env["RISCV_CC"] ?? "riscv64-unknown-elf-gcc";

export const HAVE_CC = spawnSync(CC, ["--version"]).status === 0;
export const HAVE_QEMU = spawnSync("qemu-system-riscv64", ["--version"]).status === 0;
/** util-linux script, which gives a command a terminal. */
export const HAVE_SCRIPT = spawnSync("script", ["--version"]).status === 0;

/** The link script of the ISA programs: everything at RAM (0x8000_0000), entry _start. */
export const ISA_LINK = ["-T", join(ROOT, "tests", "isa", "link.ld")];

/** QEMU virt's UART0 and test finisher, for programs that print or exit. */
export const UART0 = 0x1000_0000;
export const FINISHER = 0x10_0000;

/** Assemble and link `source` as `dir/name.elf` with `link` (a link script or -Ttext); returns its path. */
export function buildProgram(dir: string, name: string, source: string, link: string[] = ISA_LINK): string {
  const src = join(dir, `${name}.S`);
  const elf = join(dir, `${name}.elf`);
  writeFileSync(src, source);
  execFileSync(CC, ["-march=rv64gc_zicsr", "-mabi=lp64d", "-nostdlib", "-static", ...link, "-o", elf, src], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return elf;
}

/** Assembly that powers off at once with a pass (0x5555 to the test finisher). */
export const POWER_OFF = `  li t0, ${FINISHER}\n  li t1, 0x5555\n  sw t1, 0(t0)\n1:\n  j 1b\n`;

/** A program that powers off at once (POWER_OFF), built as `dir/pass.elf`: start-up alone. */
export function buildPass(dir: string): string {
  return buildProgram(dir, "pass", `.globl _start\n_start:\n${POWER_OFF}`);
}

/** Assembly that prints `c` on UART0 (clobbers t0, t1). */
export function printChar(c: string): string {
  return `  li t0, ${UART0}\n  li t1, ${c.charCodeAt(0)}\n  sb t1, 0(t0)\n`;
}

export interface Watched {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`. */
  printed(text: string): Promise<void>;
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

/** Run `cmd args`, collecting its output; its stdin is /dev/null unless `stdin` is "pipe". */
export function watch(cmd: string, args: string[], stdin: "ignore" | "pipe" = "ignore"): Watched {
  const child = spawn(cmd, args, { stdio: [stdin, "pipe", "pipe"] });
  let out = "";
  let err = "";
  let closed = false;
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on("data", (b: Buffer) => {
    out += b.toString("latin1");
    wake();
  });
  child.stderr!.on("data", (b: Buffer) => {
    err += b.toString("latin1");
  });
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (status, signal) => {
      closed = true;
      resolve({ status, signal });
      wake();
    }),
  );
  const printed = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(text)) resolve();
        else if (closed) reject(new Error(`exited before printing ${JSON.stringify(text)}: ${out}${err}`));
        else waiters.push(check);
      };
      check();
    });
  return { child, stdout: () => out, stderr: () => err, printed, exited };
}

/** CPU time (user + system) a live process has used, in clock ticks (proc(5), fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Resolves with `value` after `ms` (a hang guard, never a performance threshold). */
export function after<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}
