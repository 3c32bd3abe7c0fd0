/**
 * Running one command in a fresh guest of the default image, from TypeScript: the guest's /init
 * runs /corral/cmd (from a second cpio archive appended to the initrd) and frames its output with
 * CMD_BEGIN and "@@CORRAL-EXIT <status>@@" lines on the console (see image/init-script.ts).
 */
import { CMD_BEGIN } from "../image/init-script.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage, type ImagePaths } from "../image/pull.js";
import type { NamedBlob } from "../machine/builder.js";
import { composeVm } from "../vm/compose.js";
import { parseVmSpec } from "../vm/spec.js";
import { signalStatus, type MachineExit } from "../machine/machine.js";
import type { VirtioDevice } from "../devices/virtio/device.js";
import { ApiError } from "./errors.js";

// The default guest's command line lives with the composition step that applies it.
export { DEFAULT_CMDLINE, defaultCmdline } from "../vm/cmdline.js";
import { DEFAULT_CMDLINE } from "../vm/cmdline.js";

/**
 * Splits the console stream of a command run: boot noise until CMD_BEGIN, then the command's
 * output (CRLF from the guest tty turned back into LF) until the status line.
 */
export class CommandConsole {
  private buf = "";
  private started = false;
  private log = "";
  status: number | null = null;
  constructor(private readonly onOutput: (text: string) => void) {}

  write(b: Uint8Array): void {
    const s = Buffer.from(b).toString("latin1");
    this.log = (this.log + s).slice(-4000);
    if (this.status !== null) return;
    this.buf += s;
    this.drain(false);
  }
  /** Emit what is left (a last line without newline) at the end of the run. */
  flush(): void {
    this.drain(true);
  }
  /** The last lines of the console, for error messages. */
  transcript(): string {
    return this.log.split(/\r?\n/).slice(-15).join("\n");
  }

  private drain(final: boolean): void {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl < 0) break;
      const line = this.buf.slice(0, nl + 1);
      this.buf = this.buf.slice(nl + 1);
      const bare = line.replace(/\r?\n$/, "").replace(/\r$/, "");
      if (!this.started) {
        if (bare.endsWith(CMD_BEGIN)) this.started = true;
        continue;
      }
      const m = /@@CORRAL-EXIT (\d+)@@$/.exec(bare);
      if (m) {
        const before = bare.slice(0, m.index);
        if (before) this.onOutput(before);
        this.status = Number(m[1]);
        return;
      }
      this.onOutput(line.replace(/\r\n$/, "\n"));
    }
    if (final && this.started && this.status === null && this.buf) this.onOutput(this.buf);
  }
}

/** Turn a finished command run into its exit status, or a CorralError that says what happened. */
export function commandStatus(exit: MachineExit, con: CommandConsole): number {
  switch (exit.kind) {
    case "poweroff":
      if (con.status === null)
        throw new ApiError(
          "GUEST_NO_STATUS",
          `the guest powered off before the command finished; its console said:\n${con.transcript()}`,
        );
      return con.status;
    case "reset":
      throw new ApiError("GUEST_RESET", "the guest reset before the command finished");
    case "panic":
      throw new ApiError("GUEST_PANIC", `guest kernel panic: ${exit.message.trim()}`);
    case "stopped":
      // Stopped by a signal: the status a shell gives a command that signal killed; else as ^C.
      return signalStatus(exit.signal ?? "SIGINT");
    case "fault":
      throw new ApiError(
        "EMULATOR_FAULT",
        `the virtual machine stopped on an internal error (please report it): ${exit.message.split("\n")[0]}`,
      );
  }
}

/** Concatenate two cpio archives; each starts 4-byte aligned (early-userspace/buffer-format.rst). */
export function concatArchives(a: Uint8Array, b: Uint8Array): Uint8Array {
  const pad = (4 - (a.length % 4)) % 4;
  const r = new Uint8Array(a.length + pad + b.length);
  r.set(a, 0);
  r.set(b, a.length + pad);
  return r;
}

export interface GuestCommandOptions {
  memory?: number;
  cpus?: number;
  /** Boot through this M-mode firmware (e.g. the image's OpenSBI fw_dynamic.bin) instead of directly. */
  firmware?: NamedBlob;
  /** Files the command finds under /corral/files/. */
  files?: Record<string, Uint8Array>;
  cmdline?: string;
  image?: ImagePaths;
  /** Streamed command output. */
  onOutput?: (text: string) => void;
  /** Virtio devices for the guest (closed with the machine). */
  virtio?: VirtioDevice[];
}

/** Boot the default guest, run `cmd` with /bin/sh, power off. Returns the status and the output. */
export async function runGuestCommand(
  cmd: string,
  opts: GuestCommandOptions = {},
): Promise<{ status: number; output: string }> {
  const img = opts.image ?? (await ensureDefaultImage());
  let output = "";
  const con = new CommandConsole((t) => {
    output += t;
    opts.onOutput?.(t);
  });
  // The one composition step (vm/compose.ts), as corral run and the VM process use: the default
  // image's kernel and initrd with the command's archive appended, and only the devices given.
  const spec = parseVmSpec({
    harts: opts.cpus ?? 1,
    memory: opts.memory ?? 512 * 2 ** 20,
    boot: {
      kernel: img.kernel,
      initrd: img.initramfs,
      ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    },
    devices: [],
  });
  const { machine: m } = await composeVm(spec, {
    console: (b) => con.write(b),
    initrdAppend: (initrd) => concatArchives(initrd, commandArchive(cmd, opts.files ?? {})),
    defaultCmdline: () => DEFAULT_CMDLINE,
    ...(opts.firmware ? { firmware: opts.firmware } : {}),
    ...(opts.virtio ? { attach: opts.virtio } : {}),
  });
  let exit: MachineExit;
  try {
    exit = await m.run();
  } finally {
    con.flush();
    m.close();
  }
  return { status: commandStatus(exit, con), output };
}
