/**
 * Corral's TypeScript API for VMs:
 *
 *   const vm = await Corral.start({ name: "dev", memory: "512M" });
 *   const r = await vm.exec(["uname", "-a"]);            // { exitCode, stdout, stderr }
 *   const sh = vm.exec(["sh"], { tty: { rows: 40, cols: 120 }, stdin: process.stdin, onStdout });
 *   sh.resize(50, 132);                                    // the guest gets SIGWINCH
 *   await vm.files.write("/tmp/x", "hello");
 *   await vm.setMemory("256M");                           // the balloon
 *   await vm.stop();
 *
 * Design: every VM runs in its own detached process (src/vm/daemon.ts), also when started from
 * this API. The emulator keeps the thread it runs on busy, so an in-process VM would starve the
 * caller's event loop (timers, sockets, its own HTTP server); a separate process also lets a VM
 * started here be seen and managed by `corral ps/exec/console/stop`, and survive a crash of the
 * caller. The API is a client of the VM's control socket (src/vm/client.ts).
 */
import { parseSize } from "../size.js";
import { VmClient, type ExecSession } from "../vm/client.js";
import type { MemoryInfo, VfBody, VfInfo, VmInfo } from "../vm/control/protocol.js";
import { launchVm, stopVm } from "../vm/launch.js";
import { vmSpec } from "../vm/options.js";
import type { GuestConsole } from "../vm/spec.js";
import { listVms, removeVm, vmActivity, type VmRecord } from "../vm/state.js";
import { shQuote } from "../vm/agent/protocol.js";
import { restoreVm, snapshotVm } from "../snapshot/vm.js";
import { forkEach, forkVm } from "../snapshot/fork.js";
import type { FirstExec, FirstExecResult } from "../vm/first-exec.js";
import { DEFAULT_MAX_OUTPUT, OutputCap } from "../vm/agent/output-cap.js";
import { CorralError } from "../errors.js";
import type { SnapshotInfo } from "../vm/control/protocol.js";
import type { RateLimitSpec } from "../devices/kinds/limit.js";
import { DEFAULT_TTY_SIZE, checkTtySize, type TtySize } from "../vm/tty.js";
import { ApiError, ExecOutputLimitError } from "./errors.js";

export { CorralError } from "../errors.js";
export { ExecOutputLimitError } from "./errors.js";
export type { MemoryInfo, VfBody, VfInfo, VmInfo } from "../vm/control/protocol.js";
export type { VmRecord } from "../vm/state.js";
export type { TtySize } from "../vm/tty.js";
export type { RateLimitSpec } from "../devices/kinds/limit.js";

export interface StartOptions {
  /** Unique among running VMs; default a random "vm-xxxxxxxx". */
  name?: string;
  /** Bytes, or a size like "512M" (default 512M). */
  memory?: number | string;
  cpus?: number;
  /** Disk specs as for --disk: "FILE", "FILE,ro", with ",format=raw" or ",format=overlay" (docs/security.md). */
  disks?: string[];
  /**
   * NICs as for --net: "user[,host-loopback=on][,dns=IP[:PORT]]", "switch:NAME[,mac=MAC][,offload=off]",
   * "tap[:NAME][,mac=MAC]" or "none"; default one user-mode NIC.
   */
  networks?: string[];
  /** Port forwards to the user-mode NIC as for -p: "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]". */
  ports?: string[];
  /**
   * A virtio-vsock device as for --vsock, "PATH[,cid=N]": "CONNECT <port>\n" on PATH reaches a
   * guest listener; guest connections to CID 2 port P reach a host listener on PATH_P.
   */
  vsock?: string;
  /** A root disk of the image cache by name (`corral image build --output NAME`), booted as /dev/vda. */
  image?: string;
  /** Host directories shared through virtio-fs as for --share, "HOST_DIR:TAG[,ro]": mount -t virtiofs TAG /mnt. */
  shares?: string[];
  kernel?: string;
  initrd?: string;
  append?: string;
  /** The guest's console device: "ttyS0" (the UART, default) or "hvc0" (virtio-console port 0). */
  console?: GuestConsole;
  /** The interrupt controllers, as --irqchip: "plic" (default) or "aia" (APLIC in MSI mode and IMSICs). */
  irqchip?: "plic" | "aia";
  /** How long to wait for the guest to boot (default 300 s). */
  bootTimeoutMs?: number;
  /** Offer guest RAM to the host's KSM (as --share-memory; default the host's, CORRAL_SHARE_MEMORY). */
  shareMemory?: boolean;
  /** How the virtio devices reach the guest, as --transport: "mmio" (default) or "pci" (PCIe functions). */
  transport?: "mmio" | "pci";
}

export interface ExecOptions {
  /**
   * The command's stdin: bytes, or a stream of chunks (an AsyncIterable such as a Readable),
   * each passed on as it comes; its end is the command's end of file. Without it, /dev/null.
   */
  stdin?: string | Uint8Array | AsyncIterable<Uint8Array | string>;
  /**
   * Run the command on a pseudo-terminal (default 24x80): it sees a tty, its stdout and stderr
   * are one stream (stdout here), Ctrl-C in stdin interrupts it, and with a stream for stdin
   * its end is typed as Ctrl-D. TERM is taken from `env`, else this process, else xterm.
   */
  tty?: boolean | TtySize;
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the command (its whole process group, not the VM) after this long. */
  timeoutMs?: number;
  /**
   * The most output kept of each stream (stdout, stderr), in bytes or a size like "64M"; default
   * 16 MiB (DEFAULT_MAX_OUTPUT). The guest is not trusted to stop writing: a command that writes
   * more is killed (its process group, as by timeoutMs) and the exec rejects with an
   * ExecOutputLimitError (code EXEC_OUTPUT_LIMIT) holding what was kept, as Node's execFile does
   * past its maxBuffer. The callbacks get the same bytes as the result, nothing past the limit.
   * `Infinity` keeps everything (only for commands you trust to end).
   */
  maxOutputBytes?: number | string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** The default of ExecOptions.maxOutputBytes: 16 MiB of each stream. */
export { DEFAULT_MAX_OUTPUT };

/** What an exec that went past maxOutputBytes is told. */
function overLimit(name: string, argv: string[], limit: number, stream: "stdout" | "stderr"): string {
  return `${argv[0] ?? "the command"} in VM '${name}' wrote more than ${limit} bytes to ${stream}: it was killed; raise maxOutputBytes, or read the output in parts`;
}

/** A running exec: await it for the result. */
export type ExecRun = Promise<ExecResult> & {
  /** Change the size of the exec's terminal (tty execs only); the command gets SIGWINCH. */
  resize(rows: number, cols: number): void;
};

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The raw bytes of stdout (stdout is their UTF-8 decoding). */
  stdoutBytes: Buffer;
  timedOut: boolean;
}

const toBytes = (n: number | string): number => (typeof n === "number" ? n : parseSize(n));

/** ExecOptions.maxOutputBytes as a number of bytes (BAD_OPTION unless a size, a count or Infinity). */
function outputLimit(v: number | string | undefined): number {
  if (v === undefined) return DEFAULT_MAX_OUTPUT;
  const n = toBytes(v);
  if (!(n >= 0) || (!Number.isInteger(n) && n !== Infinity))
    throw new ApiError(
      "BAD_OPTION",
      `maxOutputBytes must be a whole number of bytes or a size like "64M", not ${String(v)}`,
    );
  return n;
}

/** The ExecResult (or the error) of a first command answered over a pool process's claim (src/vm/first-exec.ts). */
function firstResult(name: string, argv: string[], limit: number, r: FirstExecResult | undefined): ExecResult {
  if (!r) throw new ApiError("FIRST_EXEC_LOST", `VM '${name}' ended before its first command (${argv[0]}) answered`);
  if ("error" in r) throw new CorralError(r.error.code, r.error.message);
  const stdoutBytes = Buffer.from(r.stdout, "base64");
  const stderr = Buffer.from(r.stderr, "base64");
  if (r.limit)
    throw new ExecOutputLimitError(
      r.limit,
      limit,
      { stdout: stdoutBytes, stderr },
      overLimit(name, argv, limit, r.limit),
    );
  return {
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    stdout: stdoutBytes.toString("utf8"),
    stderr: stderr.toString("utf8"),
    stdoutBytes,
  };
}

export class Vm {
  readonly files: {
    /** Write `data` to `path` in the guest (created or truncated). */
    write(path: string, data: string | Uint8Array): Promise<void>;
    /** The bytes of `path` in the guest; at most `maxBytes` (default 16 MiB), else EXEC_OUTPUT_LIMIT. */
    read(path: string, opts?: { maxBytes?: number | string }): Promise<Buffer>;
  };

  constructor(private readonly client: VmClient) {
    this.files = {
      write: async (path, data) => {
        const r = await this.exec(["sh", "-c", `cat > ${shQuote(path)}`], { stdin: data });
        if (r.exitCode !== 0)
          throw new ApiError("GUEST_FILE_WRITE", `could not write ${path} in VM '${this.name}': ${r.stderr.trim()}`);
      },
      read: async (path, opts = {}) => {
        const r = await this.exec(["cat", path], opts.maxBytes !== undefined ? { maxOutputBytes: opts.maxBytes } : {});
        if (r.exitCode !== 0)
          throw new ApiError("GUEST_FILE_READ", `could not read ${path} in VM '${this.name}': ${r.stderr.trim()}`);
        return r.stdoutBytes;
      },
    };
  }

  get name(): string {
    return this.client.name;
  }

  info(): Promise<VmInfo> {
    return this.client.info();
  }

  /** Run argv in the guest (no shell: pass ["sh", "-c", "..."] for one). */
  exec(argv: string[], opts: ExecOptions = {}): ExecRun {
    let kept: OutputCap;
    const stdin = typeof opts.stdin === "string" ? Buffer.from(opts.stdin) : opts.stdin;
    let session: ExecSession | undefined;
    try {
      const limit = outputLimit(opts.maxOutputBytes);
      kept = new OutputCap(limit);
      const tty =
        opts.tty === undefined || opts.tty === false
          ? undefined
          : opts.tty === true
            ? DEFAULT_TTY_SIZE
            : checkTtySize(opts.tty);
      session = this.client.exec(
        {
          argv,
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
          ...(tty ? { tty } : {}),
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        },
        (fd, data) => {
          // Keep (and pass on) what fits under the limit; past it, give up on the command.
          const stream = fd === 1 ? "stdout" : "stderr";
          const take = kept.add(fd, data);
          if (take.length > 0) (fd === 1 ? opts.onStdout : opts.onStderr)?.(take);
          if (take.length < data.length)
            session?.abort(
              new ExecOutputLimitError(
                stream,
                limit,
                { stdout: kept.bytes(1), stderr: kept.bytes(2) },
                overLimit(this.name, argv, limit, stream),
              ),
            );
        },
        stdin,
      );
    } catch (e) {
      return Object.assign(Promise.reject(e as Error), {
        resize: (): void => {
          throw e;
        },
      });
    }
    const result = session.result.then((r): ExecResult => {
      const stdoutBytes = kept.bytes(1);
      return {
        exitCode: r.exitCode,
        timedOut: r.timedOut,
        stdout: stdoutBytes.toString("utf8"),
        stderr: kept.bytes(2).toString("utf8"),
        stdoutBytes,
      };
    });
    const s = session;
    return Object.assign(result, { resize: (rows: number, cols: number): void => s.resize({ rows, cols }) });
  }

  /** Set the guest's memory target through the balloon (at most the VM's memory). */
  setMemory(size: number | string): Promise<MemoryInfo> {
    return this.client.setMemory(toBytes(size));
  }

  memory(): Promise<MemoryInfo> {
    return this.client.memory();
  }

  /** The SR-IOV virtual functions of the VM's NICs, with what the host set on each. */
  vfs(): Promise<VfInfo[]> {
    return this.client.vfs();
  }

  /**
   * Set VF `vf` (its number under the first NIC with VFs, or its name, eth0vf1): MAC, port VLAN,
   * rate (bytes per second each way, null for none), spoof checking, trust, link state.
   */
  setVf(vf: number | string, settings: Omit<VfBody, "vf">): Promise<VfInfo> {
    return this.client.setVf({ ...settings, vf: String(vf) });
  }

  /**
   * Pause the VM, write its snapshot into `dir` (a new directory: RAM, CPU and device state, a
   * frozen point of its disks) and let it run on. `Corral.restore(dir)` starts VMs from it.
   */
  snapshot(dir: string): Promise<SnapshotInfo> {
    return snapshotVm(this.name, dir, this.client.home !== undefined ? { home: this.client.home } : {});
  }

  /**
   * `count` (default 1) running clones of this VM sharing its memory copy-on-write, each with
   * its own name (NAME-xxxxxx, also its hostname), VM generation ID (its kernel reseeds its RNG)
   * and disk overlays; a NIC on a switch or a TAP gets its own MAC and DHCP lease, port forwards stay
   * with this VM (docs/snapshots.md). Resolves once every clone answers.
   */
  async fork(o: { count?: number } = {}): Promise<Vm[]> {
    const clients = await forkVm(
      this.name,
      o.count ?? 1,
      this.client.home !== undefined ? { home: this.client.home } : {},
    );
    return clients.map((c) => new Vm(c));
  }

  /**
   * Fork as `fork()` does, handing each clone over the moment it runs (they restore side by side):
   *
   *   for await (const { vm, first } of parent.forkEach({ count: 4, first: { argv: ["make", "test"] } }))
   *     void first!.then((r) => console.log(vm.name, r.exitCode));
   *
   * `first`: a command each clone runs as soon as it runs; a warm pool process (`corral pool
   * start`) gets it with its claim and starts it right behind setting the clock and hostname, no
   * request to the clone needed; otherwise it is sent as `exec` does. Its output is kept whole
   * (maxOutputBytes, as exec's), not streamed. Bad input (count, memory, a VM not running) throws
   * before any clone starts. A clone that fails leaves nothing behind: the others come as they
   * run, then the iteration throws its error; the clones handed over and this VM run on. Leaving
   * the loop early stops and removes the clones not yet handed over.
   */
  async *forkEach(
    o: {
      count?: number;
      first?: { argv: string[] } & Pick<ExecOptions, "env" | "cwd" | "timeoutMs" | "maxOutputBytes">;
    } = {},
  ): AsyncGenerator<{ vm: Vm; first?: Promise<ExecResult> }, void, undefined> {
    const f = o.first;
    const req: FirstExec | undefined = f && {
      argv: f.argv,
      ...(f.env ? { env: f.env } : {}),
      ...(f.cwd !== undefined ? { cwd: f.cwd } : {}),
      ...(f.timeoutMs !== undefined ? { timeoutMs: f.timeoutMs } : {}),
      maxOutputBytes: outputLimit(f.maxOutputBytes),
    };
    if (f && (!Array.isArray(f.argv) || f.argv.length === 0))
      throw new ApiError("BAD_OPTION", "first.argv must be a non-empty array of strings");
    const home = this.client.home !== undefined ? { home: this.client.home } : {};
    for await (const c of forkEach(this.name, o.count ?? 1, { ...home, first: req })) {
      const vm = new Vm(c.client);
      if (!f || !req) {
        yield { vm };
        continue;
      }
      const { argv, ...opts } = f;
      const first = c.first
        ? c.first.then((r) => firstResult(vm.name, argv, req.maxOutputBytes!, r))
        : Promise.resolve(vm.exec(argv, opts));
      // Rejections are the caller's to read when it awaits `first`; none goes unhandled meanwhile.
      first.catch(() => {});
      yield { vm, first };
    }
  }

  /** Power off: graceful through the agent, forced after `timeoutMs` (default 10 s). */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    await stopVm(this.name, {
      home: this.client.home,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  /**
   * Remove the ended VM's directory (its console log and the record of how it ended), as
   * `corral rm`: VM_RUNNING while it runs, unless `force`, which stops it first (as `stop()`).
   * VM_NOT_FOUND if it is already gone.
   */
  async remove(opts: { force?: boolean } = {}): Promise<void> {
    if (opts.force === true && vmActivity(this.name, this.client.home) === "running") await this.stop();
    removeVm(this.name, this.client.home);
  }
}

export const Corral = {
  /** Boot a VM in its own process; resolves when its guest agent answers. */
  async start(o: StartOptions = {}): Promise<Vm> {
    const spec = vmSpec({ ...o, nets: o.networks, publish: o.ports });
    const client = await launchVm(spec, { bootTimeoutMs: o.bootTimeoutMs });
    return new Vm(client);
  },
  /**
   * Start a VM from the snapshot in `dir` (Vm.snapshot, `corral snapshot`), where it left off:
   * RAM mapped copy-on-write from the snapshot, its disks new overlays on the snapshot's frozen
   * ones. Its disks and NICs keep the rate limits in force when it was snapshotted; `limits`
   * gives some of them others by device name ({ vda: { bandwidth: 50 * 2 ** 20 }, eth0: null }).
   * Resolves once its agent answers.
   */
  async restore(dir: string, o: { name?: string; limits?: Record<string, RateLimitSpec | null> } = {}): Promise<Vm> {
    return new Vm(await restoreVm(dir, { name: o.name, limits: o.limits }));
  },
  /** A running VM by name (VM_NOT_RUNNING if there is none). */
  get(name: string): Vm {
    const c = new VmClient(name);
    c.record();
    return new Vm(c);
  },
  list(): VmRecord[] {
    return listVms();
  },
};
