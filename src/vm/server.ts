/**
 * The VM process's end of its control socket: the routes of control/protocol.ts, served over
 * HTTP/1.1 on a Unix socket.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { rmSync } from "node:fs";
import type { Duplex } from "node:stream";
import { isCorralError } from "../errors.js";
import { BalloonStat } from "../devices/virtio/balloon.js";
import { PAGE_SIZE } from "../machine/memory.js";
import type { VmContext } from "./daemon.js";
import { minGuestMemory } from "./balloon-floor.js";
import { ramPages } from "./madvise.js";
import { residentBytes } from "../sys/proc.js";
import {
  CONSOLE_UPGRADE,
  NDJSON,
  ROUTES,
  type ApiError,
  type ExecBody,
  type ExecOutput,
  type MemoryBody,
  type MemoryInfo,
  type SnapshotBody,
  type SnapshotInfo,
  type StopBody,
  type VmInfo,
} from "./control/protocol.js";
import { checkTtySize } from "./tty.js";
import { limitInfo, setLimit } from "./limits.js";
import { setVf, vfInfo } from "./vfs.js";

/** How long an exec waits for a booting guest's agent. */
const BOOT_WAIT_MS = 180_000;

async function body(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    const b = c as Buffer;
    n += b.length;
    if (n > 256 * 2 ** 20) throw new Error("request body too large");
    parts.push(b);
  }
  const s = Buffer.concat(parts).toString("utf8");
  return s ? (JSON.parse(s) as unknown) : {};
}

function json(res: ServerResponse, status: number, v: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(v));
}

/** A size as the CLI takes it: 128M, 512K, or bytes. */
function mib(n: number): string {
  return n % 2 ** 20 === 0 ? `${n / 2 ** 20}M` : n % 1024 === 0 ? `${n / 1024}K` : `${n} bytes`;
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } } satisfies ApiError);
}

export async function serveControl(path: string, vm: VmContext): Promise<Server> {
  const server = createServer((req, res) => {
    route(req, res, vm).catch((e: unknown) => {
      const code = isCorralError(e) ? e.code : "BAD_REQUEST";
      const message = e instanceof Error ? e.message : String(e);
      if (!res.headersSent) fail(res, isCorralError(e) ? 500 : 400, code, message);
      else res.end(JSON.stringify({ error: { code, message } } satisfies ApiError) + "\n");
    });
  });
  // An exec's request body lasts as long as its command (stdin is streamed): no time limit on it.
  server.requestTimeout = 0;
  server.on("upgrade", (req: IncomingMessage, socket: Duplex) => attachConsole(req, socket, vm));
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  return server;
}

async function route(req: IncomingMessage, res: ServerResponse, vm: VmContext): Promise<void> {
  const url = req.url ?? "/";
  if (req.method === "GET" && url === ROUTES.vm) {
    json(res, 200, { ...vm.rec, state: vm.state(), uptimeMs: Date.now() - vm.rec.startedAt } satisfies VmInfo);
  } else if (req.method === "POST" && url === ROUTES.exec) {
    await exec(req, res, vm);
  } else if (req.method === "POST" && url === ROUTES.stop) {
    const b = (await body(req)) as StopBody;
    vm.stop(typeof b.timeoutMs === "number" ? b.timeoutMs : 10_000);
    json(res, 202, { state: "stopping" });
  } else if (req.method === "POST" && url === ROUTES.snapshot) {
    const b = (await body(req)) as Partial<Record<keyof SnapshotBody, unknown>>;
    if (typeof b.dir !== "string" || !b.dir.startsWith("/"))
      return fail(res, 400, "BAD_SNAPSHOT", 'body must be {"dir": "/absolute/path"}');
    const t0 = performance.now();
    try {
      const m = await vm.snapshot(b.dir, {
        ...(b.hashRam === false ? { hashRam: false } : {}),
        ...(b.linkRam === true ? { linkRam: true } : {}),
      });
      json(res, 200, { dir: b.dir, ramBytes: m.ram.size, tookMs: performance.now() - t0 } satisfies SnapshotInfo);
    } catch (e) {
      if (!isCorralError(e)) throw e;
      fail(res, e.exitCode === 2 ? 400 : 500, e.code, e.message);
    }
  } else if (url === ROUTES.memory && (req.method === "GET" || req.method === "PUT")) {
    if (req.method === "PUT") {
      const b = (await body(req)) as Partial<Record<keyof MemoryBody, unknown>>;
      if (typeof b.bytes !== "number" || !Number.isFinite(b.bytes) || b.bytes <= 0)
        return fail(res, 400, "BAD_MEMORY", 'body must be {"bytes": N} with N > 0');
      const min = minGuestMemory(vm.rec.memory);
      const range = `give from ${mib(min)} (what its kernel and agent need) to ${mib(vm.rec.memory)} (its RAM)`;
      if (b.bytes > vm.rec.memory)
        return fail(res, 400, "BAD_MEMORY", `${mib(b.bytes)} is more than VM '${vm.rec.name}' has: ${range}`);
      if (b.bytes < min)
        return fail(
          res,
          400,
          "MEMORY_BELOW_FLOOR",
          `${mib(b.bytes)} would leave VM '${vm.rec.name}' too little to keep its guest agent alive: ${range}`,
        );
      vm.balloon.setTarget(Math.floor((vm.rec.memory - b.bytes) / PAGE_SIZE));
    }
    vm.balloon.requestStats();
    const stat = (t: number): number | undefined => {
      const v = vm.balloon.stats.get(t);
      return v === undefined ? undefined : Number(v);
    };
    json(res, 200, {
      memory: vm.rec.memory,
      targetBytes: vm.rec.memory - vm.balloon.target * PAGE_SIZE,
      balloonPages: vm.balloon.actual,
      guestTotal: stat(BalloonStat.MEMTOT),
      guestAvailable: stat(BalloonStat.AVAIL),
      hostResident: residentBytes(),
      releasedBytes: vm.balloon.releasedBytes,
      pages: ramPages(vm.machine.ram),
    } satisfies MemoryInfo);
  } else if (url === ROUTES.limits && req.method === "GET") {
    json(res, 200, limitInfo(vm.devices));
  } else if (url === ROUTES.limits && req.method === "PUT") {
    try {
      json(res, 200, setLimit(vm.devices, await body(req)));
    } catch (e) {
      if (!isCorralError(e)) throw e;
      fail(res, e.code === "NO_SUCH_DEVICE" ? 404 : 400, e.code, e.message);
    }
  } else if (url === ROUTES.vfs && req.method === "GET") {
    json(res, 200, vfInfo(vm.devices));
  } else if (url === ROUTES.vfs && req.method === "PUT") {
    try {
      json(res, 200, setVf(vm.devices, await body(req)));
    } catch (e) {
      if (!isCorralError(e)) throw e;
      fail(res, e.code === "NO_SUCH_VF" ? 404 : 400, e.code, e.message);
    }
  } else {
    fail(res, 404, "NOT_FOUND", `no route ${req.method ?? ""} ${url}`);
  }
}

/** The request body as JSON lines, read as they arrive (the client writes while the command runs). */
async function* ndjson(req: IncomingMessage): AsyncGenerator<unknown> {
  let buf = "";
  for await (const c of req) {
    buf += (c as Buffer).toString("utf8");
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as unknown;
    }
    if (buf.length > 64 * 2 ** 20) throw new Error("request line too long");
  }
  if (buf.trim()) yield JSON.parse(buf) as unknown;
}

async function exec(httpReq: IncomingMessage, res: ServerResponse, vm: VmContext): Promise<void> {
  const lines = ndjson(httpReq);
  const first = await lines.next();
  const b = (first.done ? {} : first.value) as ExecBody;
  if (!Array.isArray(b.argv) || b.argv.length === 0 || !b.argv.every((a) => typeof a === "string")) {
    return fail(res, 400, "BAD_EXEC", "argv must be a non-empty array of strings");
  }
  if (b.tty !== undefined) {
    try {
      b.tty = checkTtySize(b.tty);
    } catch (e) {
      return fail(res, 400, "BAD_TTY_SIZE", (e as Error).message);
    }
  }
  if (vm.state() === "stopping") return fail(res, 409, "VM_NOT_RUNNING", `VM '${vm.rec.name}' is stopping`);
  res.writeHead(200, { "content-type": NDJSON });
  // The status line goes out at once, before the agent or the command writes anything: the client
  // counts a VM whose status line does not come as not answering (client.ts CONTROL_TIMEOUT_MS).
  res.flushHeaders();
  if (!vm.agent.ready) {
    const t = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), BOOT_WAIT_MS).unref());
    if ((await Promise.race([vm.agent.whenReady(), t])) === "timeout") {
      const error: ApiError = {
        error: {
          code: "AGENT_TIMEOUT",
          message: `the guest agent of VM '${vm.rec.name}' has not started: see its console log`,
        },
      };
      res.end(JSON.stringify(error) + "\n");
      return;
    }
  }
  const req = {
    argv: b.argv,
    ...(b.env ? { env: b.env } : {}),
    ...(b.cwd !== undefined ? { cwd: b.cwd } : {}),
    ...(b.stdin === true ? { stdin: true } : {}),
    ...(b.tty !== undefined ? { tty: b.tty } : {}),
    ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
  };
  const h = vm.agent.exec(req, (fd, data) =>
    res.write(JSON.stringify({ fd, data: data.toString("base64") } satisfies ExecOutput) + "\n"),
  );
  // A client that goes away takes its command with it.
  res.on("close", () => {
    if (!res.writableFinished) vm.agent.kill(h.id);
  });
  const input = async (): Promise<void> => {
    for await (const v of lines) {
      const m = v as Partial<Record<"stdin" | "eof" | "resize", unknown>>; // an ExecInput line, checked field by field
      if (typeof m.stdin === "string") {
        if (!h.write(Buffer.from(m.stdin, "base64"))) await h.drained();
      } else if (m.eof === true) h.end();
      else if (m.resize !== undefined) h.resize(checkTtySize(m.resize));
    }
  };
  // A broken or malformed input stream ends the input, not the command: the close handler above
  // kills it if the client is gone.
  const inputDone = input().catch(() => {});
  try {
    const r = await h.done;
    res.write(JSON.stringify(r) + "\n");
  } catch (e) {
    const error: ApiError = {
      error: { code: isCorralError(e) ? e.code : "EXEC_FAILED", message: e instanceof Error ? e.message : String(e) },
    };
    res.write(JSON.stringify(error) + "\n");
  }
  // The client ends its request when it reads the last line; ending the response (and closing
  // the connection) before that could cut off stdin it is still writing, and so its reading.
  await inputDone;
  res.end();
}

function attachConsole(req: IncomingMessage, socket: Duplex, vm: VmContext): void {
  if (req.url !== ROUTES.console || (req.headers.upgrade ?? "").toLowerCase() !== CONSOLE_UPGRADE) {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${CONSOLE_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`);
  socket.write(vm.consoleTail());
  const out = (b: Uint8Array): void => {
    socket.write(b);
  };
  vm.consoleListeners.add(out);
  socket.on("data", (b: Buffer) => vm.machine.consoleInput(b));
  const done = (): void => {
    vm.consoleListeners.delete(out);
  };
  socket.on("close", done);
  socket.on("error", done);
}
