/**
 * The control socket of a VM process: HTTP/1.1 over a Unix socket (as Firecracker's API socket),
 * served by the VM process (../server.ts) and spoken by the `corral` CLI and the API (../client.ts).
 * This module is all the two share, so a client loads no server code.
 *
 *   GET  /vm        VmInfo
 *   POST /exec      body application/x-ndjson, sent while the command runs: an ExecBody line, then
 *                   ExecInput lines (stdin chunks, end of stdin, terminal sizes); response
 *                   application/x-ndjson, streamed: ExecOutput lines ({"fd":1|2,"data":base64}),
 *                   then an ExecOutcome ({"exitCode":N,"timedOut":bool}) or an ApiError
 *   POST /stop      body StopBody: graceful power-off, forced after timeoutMs; 202
 *   GET  /memory    MemoryInfo; PUT /memory body MemoryBody sets the guest's memory target
 *   POST /snapshot  body SnapshotBody: pause, write a snapshot into dir, resume; SnapshotInfo
 *   GET  /limits    LimitInfo[] (every disk and NIC); PUT /limits body LimitBody changes one device's limits
 *   GET  /vfs       VfInfo[] (every SR-IOV VF of the VM's NICs); PUT /vfs body VfBody changes one VF's settings
 *   GET  /console   with "Upgrade: corral-console": the guest console (ttyS0 or hvc0) as raw bytes both ways
 * A failed request answers an ApiError with a 4xx or 5xx status; an exec whose status line has
 * gone out (at once, before the agent is waited for) ends its stream with the ApiError instead.
 */
import type { VmRecord } from "../state.js";
import type { TtySize } from "../tty.js";
import type { RateLimitSpec } from "../../devices/kinds/limit.js";

export const ROUTES = Object.freeze({
  vm: "/vm",
  exec: "/exec",
  stop: "/stop",
  memory: "/memory",
  limits: "/limits",
  vfs: "/vfs",
  console: "/console",
  snapshot: "/snapshot",
});

/** The protocol name of the console's HTTP upgrade (RFC 9110 §7.8). */
export const CONSOLE_UPGRADE = "corral-console";
/** The media type of /exec's request and response bodies: one JSON value per line. */
export const NDJSON = "application/x-ndjson";

export type VmState = "booting" | "running" | "stopping";

export interface VmInfo extends VmRecord {
  state: VmState;
  uptimeMs: number;
}

export interface MemoryInfo {
  memory: number;
  targetBytes: number;
  balloonPages: number;
  /** The guest's own figures (virtio 1.2 §5.5.6.3), absent until its balloon driver reports them. */
  guestTotal?: number | undefined;
  guestAvailable?: number | undefined;
  hostResident: number;
  /** Bytes of guest RAM handed back to the host kernel (madvise) since boot. */
  releasedBytes: number;
  /** How the guest's RAM sits in host memory (from /proc/PID/smaps of the VM process). */
  pages?: RamPages | undefined;
}

/** Guest RAM's host pages, bytes (src/vm/madvise.ts ramPages). */
export interface RamPages {
  /** The RAM is offered to KSM (--share-memory: its mapping's VmFlags has "mg"). */
  mergeable: boolean;
  /** Resident pages of guest RAM. */
  resident: number;
  /** Resident pages only this VM maps. */
  private: number;
  /** Resident pages it shares with other processes, KSM-merged ones included. */
  shared: number;
  /** Pages KSM merged (smaps' KSM field; undefined on kernels before 6.x that lack it). */
  ksm: number | undefined;
  /** The VM process's proportional set size: its share of every page it maps. */
  processPss: number;
}

export interface MemoryBody {
  /** The guest's memory target, bytes: more than 0, at most the VM's RAM. */
  bytes: number;
}

export interface SnapshotBody {
  /** An absolute directory that does not exist yet. */
  dir: string;
  /** Hash RAM for the manifest (default true; a fork's own short-lived snapshot skips it). */
  hashRam?: boolean;
  /** Link RAM's memory file instead of writing RAM (a fork's own snapshot: src/snapshot/write.ts linkRam). */
  linkRam?: boolean;
}

export interface SnapshotInfo {
  dir: string;
  ramBytes: number;
  /** How long the request took in the VM process (the guest was paused for most of it), ms. */
  tookMs: number;
}

/** A disk's or NIC's rate limits (src/devices/kinds/limit.ts) and what went through. */
export interface LimitInfo {
  device: string;
  kind: "blk" | "net";
  /** The limits in force; {} when unlimited. */
  limit: RateLimitSpec;
  /** Bytes and operations (requests, frames both ways) since boot, and times a queue waited. */
  bytes: number;
  ops: number;
  throttled: number;
}

export interface LimitBody {
  device: string;
  /** The new limits; null (or {}) removes them. */
  limit: RateLimitSpec | null;
}

/** One SR-IOV virtual function of a NIC, as the host set it (src/devices/virtio/net-vf.ts). */
export interface VfInfo {
  /** The VF's NIC, e.g. eth0vf1; its PF, e.g. eth0; its number under the PF. */
  device: string;
  pf: string;
  vf: number;
  mac: string;
  /** 0: no port VLAN. */
  vlan: number;
  /** The VF's bandwidth limit, bytes per second each way; undefined when unlimited. */
  rate?: number | undefined;
  spoofchk: boolean;
  trust: boolean;
  state: "auto" | "enable" | "disable";
  /** Frames each way and frames the VF's settings dropped. */
  txFrames: number;
  rxFrames: number;
  dropped: number;
}

export interface VfBody {
  /** The VF's NIC name (eth0vf1) or its number under the VM's first NIC with VFs ("1"). */
  vf: string;
  mac?: string;
  vlan?: number;
  /** Bytes per second, or null to remove the limit. */
  rate?: number | null;
  spoofchk?: boolean;
  trust?: boolean;
  state?: "auto" | "enable" | "disable";
}

export interface StopBody {
  /** How long the guest has to power off before it is stopped by force (default 10 s). */
  timeoutMs?: number;
}

/** The first line of an /exec request. */
export interface ExecBody {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Stdin follows as ExecInput lines; otherwise the command's stdin is /dev/null. */
  stdin?: boolean;
  /** Run the command on a pseudo-terminal of this size. */
  tty?: TtySize;
  timeoutMs?: number;
}

/** The lines after the ExecBody: a stdin chunk (base64), the end of stdin, a new terminal size. */
export type ExecInput = { stdin: string } | { eof: true } | { resize: TtySize };

/** Output of the command, base64. */
export interface ExecOutput {
  fd: 1 | 2;
  data: string;
}

export interface ExecOutcome {
  exitCode: number;
  timedOut: boolean;
  /** Timed out, and the guest never reported that the kill took effect (src/vm/agent/channel.ts). */
  unconfirmed?: boolean;
}

export interface ApiError {
  error: { code: string; message: string };
}
