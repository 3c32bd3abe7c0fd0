/**
 * Running iproute2's `ip`, on the host or inside a process's network namespace.
 *
 * Why `ip` and not rtnetlink through koffi: a spawn costs a few milliseconds, and setup needs two
 * or three (one batch on the host side, one inside the container's namespace via nsenter), which
 * is small next to the rest of container creation. Speaking rtnetlink ourselves would mean
 * encoding nlmsghdr/ifinfomsg/nested rtattr messages (IFLA_LINKINFO, VETH_INFO_PEER,
 * IFLA_NET_NS_PID, ...) and switching the calling thread's namespace with setns, which a Node
 * process with worker threads cannot do safely. `ip` also gives errors users recognise.
 */
import { spawn } from "node:child_process";
import { CorralError } from "../../errors.js";
import { ContainerError } from "../errors.js";

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) =>
      reject(
        new ContainerError("NET_TOOL_MISSING", `cannot run '${cmd}' (${e.message}); install iproute2 and util-linux`, {
          cause: e,
        }),
      ),
    );
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    if (child.stdin !== null) {
      // A child that fails early closes its stdin: the error is in its status and stderr.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}

/** Where `ip` runs: the caller's network namespace, or that of a process. */
export type Netns = "host" | { pid: number };

function command(ns: Netns, args: string[]): [string, string[]] {
  if (ns === "host") return ["ip", args];
  return ["nsenter", [`--net=/proc/${ns.pid}/ns/net`, "--", "ip", ...args]];
}

/** Maps `ip`'s message to a stable code, so callers can tell a missing driver from a missing NIC. */
export function classify(stderr: string): string {
  if (/Unknown device type/i.test(stderr)) return "NET_DRIVER_MISSING";
  // "No such device" (ENODEV): the link went between lookup and deletion, as a veth does when the
  // other end's namespace dies with its last process.
  if (/Cannot find device|does not exist|No such device/i.test(stderr)) return "NET_DEVICE_MISSING";
  if (/No such process|No such file or directory/i.test(stderr)) return "NET_NO_PROCESS";
  if (/File exists/i.test(stderr)) return "NET_EXISTS";
  return "NET_SETUP_FAILED";
}

export class IpError extends CorralError {
  constructor(
    readonly what: string,
    readonly stderr: string,
  ) {
    super(classify(stderr), `${what} failed: ${stderr.trim().split("\n").slice(-1)[0] ?? "unknown error"}`);
  }
}

/** Runs one `ip` command; throws IpError on failure. Returns stdout. */
export async function ip(ns: Netns, args: string[]): Promise<string> {
  const [cmd, argv] = command(ns, args);
  const r = await run(cmd, argv);
  if (r.status !== 0) throw new IpError(`ip ${args.join(" ")}`, r.stderr);
  return r.stdout;
}

/** Runs several `ip` commands in one process (`ip -batch -`); stops at the first failure. */
export async function ipBatch(ns: Netns, lines: string[]): Promise<void> {
  const [cmd, argv] = command(ns, ["-batch", "-"]);
  const r = await run(cmd, argv, lines.join("\n") + "\n");
  if (r.status !== 0) throw new IpError(`ip -batch (${lines.join("; ")})`, r.stderr);
}

export interface LinkInfo {
  ifname: string;
  link_type?: string;
  operstate?: string;
  flags?: string[];
}

/** `ip -j link show`: the links of a namespace. */
export async function links(ns: Netns): Promise<LinkInfo[]> {
  return JSON.parse(await ip(ns, ["-j", "link", "show"])) as LinkInfo[];
}

/** Whether a link exists; other failures propagate. */
export async function linkExists(ns: Netns, name: string): Promise<boolean> {
  try {
    await ip(ns, ["link", "show", "dev", name]);
    return true;
  } catch (e) {
    if (e instanceof IpError && e.code === "NET_DEVICE_MISSING") return false;
    throw e;
  }
}
