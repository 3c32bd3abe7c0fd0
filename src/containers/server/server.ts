import { createServer, type Socket } from "node:net";
import { chmodSync, mkdirSync, readlinkSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { StatusTracker, type HelperRunner } from "../runtime/helper.js";
import { describeFailure, ociCall, splitGlobals } from "../oci/call.js";
import type { CallIO } from "../oci/io.js";
import {
  CALLER_CONTEXT,
  encodeFrame,
  FrameReader,
  nulList,
  SOCKET_NAME,
  TO_CLIENT,
  TO_SERVER,
  u32,
  type Frame,
} from "./protocol.js";
import { ContainerError } from "../errors.js";

/**
 * The resident server behind `corral-oci` (issue 4: keep Node's start-up off the per-call
 * path). One Node process per --root directory serves `corral oci` calls over a Unix socket
 * there (mode 0600: only its owner, and root, can connect; the client also checks the owner).
 * The client (native/corral-oci.c) starts it on demand; it ends by itself after `idleMs`
 * without a call, or when its socket is removed or replaced (e.g. the --root directory deleted).
 *
 * Steps that must run in the caller's process tree (corral-init, so that the container stays a
 * descendant of conmon or containerd-shim) are sent back to the client as a PLAN frame; the
 * client runs the helper and relays its status channel, which feeds the same StatusTracker the
 * in-process runHelper uses.
 */
export interface ServeOptions {
  root: string;
  /** Exit after this long without a call (default 30 s). */
  idleMs?: number;
}

export const DEFAULT_IDLE_MS = 30_000;

/**
 * The idle period while this process is the child of a subreaper (parent not 1): started from
 * under conmon or containerd-shim, the orphaned server is adopted by it, and conmon does not
 * exit while it has children. So the server leaves soon after the engine's burst of calls; once
 * the subreaper is gone (the server re-parented to init) the normal idle period applies.
 */
export const ADOPTED_IDLE_MS = 1_000;

/** The caller-context values of this process (see CALLER_CONTEXT). */
export function ownContext(): Record<string, string> {
  const ns = (n: string) => {
    try {
      return readlinkSync(`/proc/self/ns/${n}`);
    } catch {
      return "";
    }
  };
  return { PATH: process.env["PATH"] ?? "", NS_USER: ns("user"), NS_MNT: ns("mnt"), NS_PID: ns("pid") };
}

export function serve(o: ServeOptions): Promise<void> {
  const idleMs = o.idleMs ?? DEFAULT_IDLE_MS;
  const path = join(o.root, SOCKET_NAME);
  const mine = ownContext();
  mkdirSync(o.root, { recursive: true, mode: 0o711 });
  process.title = "corral-oci-server";
  let active = 0;
  let stopping = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let ino = 0;

  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    if (idleTimer) clearTimeout(idleTimer);
    if (ownsSocket()) {
      try {
        unlinkSync(path);
      } catch {
        // removed meanwhile
      }
    }
    server.close();
    if (active === 0) done();
  };
  const ownsSocket = () => {
    try {
      return statSync(path).ino === ino;
    } catch {
      return false;
    }
  };
  const idle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer =
      active === 0 ? setTimeout(stop, process.ppid === 1 ? idleMs : Math.min(idleMs, ADOPTED_IDLE_MS)) : undefined;
  };
  // A test that removes its --root directory, or a second server that replaced the socket,
  // ends this one without waiting for the idle period.
  const watch = setInterval(() => {
    if (!ownsSocket()) stop();
  }, 1000);

  const server = createServer((sock) => {
    active++;
    idle();
    serveConnection(sock, o.root, mine, stop).finally(() => {
      active--;
      if (stopping && active === 0) done();
      else idle();
    });
  });
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  // The socket is created 0600 (umask), so there is no moment where others could connect.
  const mask = process.umask(0o177);
  return new Promise<void>((resolve, reject) => {
    server.once("error", (e) => {
      process.umask(mask);
      clearInterval(watch);
      reject(new ContainerError("OCI_SERVER_FAILED", `cannot listen on ${path}: ${e.message}`, { cause: e }));
    });
    server.listen(path, () => {
      process.umask(mask);
      chmodSync(path, 0o600);
      ino = statSync(path).ino;
      idle();
      resolve(finished);
    });
  });
}

/** One client: read its request, run the call with its I/O, reply with the exit status. */
async function serveConnection(
  sock: Socket,
  root: string,
  mine: Record<string, string>,
  stopServer: () => void,
): Promise<void> {
  const reader = new FrameReader();
  let args: string[] = [];
  let cwd = "/";
  const env: Record<string, string> = {};
  let closed = false;
  let tracker: StatusTracker | undefined;
  const signalHandlers: ((s: NodeJS.Signals) => void)[] = [];
  let go!: () => void;
  const request = new Promise<void>((r) => {
    go = r;
  });
  const send = (type: string, payload?: Buffer | string) => {
    if (!closed) sock.write(encodeFrame(type, payload));
  };
  const onFrame = (f: Frame) => {
    switch (f.type) {
      case TO_SERVER.ARGS:
        args = nulList(f.payload);
        break;
      case TO_SERVER.CWD:
        cwd = f.payload.toString("utf8");
        break;
      case TO_SERVER.ENV:
        for (const kv of nulList(f.payload)) env[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
        break;
      case TO_SERVER.GO:
        go();
        break;
      case TO_SERVER.STATUS:
        tracker?.line(f.payload.toString("utf8"));
        break;
      case TO_SERVER.STATUS_CLOSED:
        tracker?.closed();
        break;
      case TO_SERVER.HELPER_EXIT:
        tracker?.exited(f.payload.readUInt32LE(0));
        break;
      case TO_SERVER.HELPER_FAILED:
        tracker?.failed(new ContainerError("OCI_HELPER_MISSING", f.payload.toString("utf8")));
        break;
      case TO_SERVER.SIGNAL: {
        const sig = ({ 1: "SIGHUP", 2: "SIGINT", 15: "SIGTERM" } as Record<number, NodeJS.Signals>)[
          f.payload.readUInt32LE(0)
        ];
        if (sig) for (const h of signalHandlers) h(sig);
        break;
      }
      default:
        sock.destroy();
    }
  };
  const gone = new Promise<void>((r) => {
    sock.on("close", () => {
      closed = true;
      tracker?.failed(new ContainerError("OCI_CLIENT_GONE", "the corral-oci client went away while its helper ran"));
      go();
      r();
    });
  });
  sock.on("error", () => undefined);
  sock.on("data", (chunk: Buffer) => {
    try {
      for (const f of reader.push(chunk)) onFrame(f);
    } catch {
      sock.destroy();
    }
  });
  await request;
  if (closed) return;
  let call: ReturnType<typeof splitGlobals> | undefined;
  try {
    call = splitGlobals(args);
  } catch {
    // a bad global flag: ociCall reports it
  }
  if (call?.command === "server") {
    const sub = call.rest[0] ?? "status";
    if (sub === "status") send(TO_CLIENT.STDOUT, `corral-oci server ${process.pid} serving ${root}\n`);
    send(TO_CLIENT.EXIT, u32(sub === "status" || sub === "stop" ? 0 : 2));
    sock.end();
    if (sub === "stop") stopServer();
    return gone;
  }
  if (CALLER_CONTEXT.some((k) => (env[k] ?? "") !== mine[k])) {
    send(TO_CLIENT.FALLBACK);
    sock.end();
    return gone;
  }
  const helper: HelperRunner = (plan) => {
    if (tracker)
      throw new ContainerError(
        "OCI_SERVER_FAILED",
        "a second helper was asked for while one still runs; this is a bug in corral",
      );
    const t = new StatusTracker();
    tracker = t;
    // One helper per call at a time; the next may start when this one has ended.
    t.exit
      .finally(() => {
        if (tracker === t) tracker = undefined;
      })
      .catch(() => undefined);
    send(TO_CLIENT.PLAN, plan.toString());
    if (closed) t.failed(new ContainerError("OCI_CLIENT_GONE", "the corral-oci client went away"));
    return { pid: t.pid, ready: t.ready, exit: t.exit, helperPid: -1 };
  };
  const io: CallIO = {
    cwd,
    out: (t) => send(TO_CLIENT.STDOUT, t),
    err: (t) => send(TO_CLIENT.STDERR, t),
    onSignal: (h) => void signalHandlers.push(h),
    gone: () => closed,
  };
  let code: number;
  try {
    code = await ociCall(args, io, { helper, root });
  } catch (e) {
    const f = describeFailure(e);
    send(TO_CLIENT.STDERR, f.text);
    code = f.code;
  }
  send(TO_CLIENT.EXIT, u32(code));
  sock.end();
  return gone;
}
