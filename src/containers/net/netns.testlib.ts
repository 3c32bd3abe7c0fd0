/**
 * Test support for networking: every test runs inside a network namespace the test created, so
 * no packet and no link ever touches the host's network. "Containers" are `unshare --net sleep`
 * processes (their own namespaces, children of the test's).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export const IN_TEST_NETNS = "CORRAL_TEST_IN_PRIVATE_NETNS";

/** Re-runs a test file inside `unshare --net`; returns the child's status and output. */
export function rerunInPrivateNetns(file: string): { status: number | null; output: string } {
  const r = spawnSync("unshare", ["--net", "--", process.execPath, "--test", file], {
    encoding: "utf8",
    // Without NODE_TEST_CONTEXT the inner runner reports and exits on its own, like a top-level run.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_TEST_CONTEXT")),
      [IN_TEST_NETNS]: "1",
    },
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

export interface FakeContainer {
  pid: number;
  /** Runs a command in the container's network namespace. */
  exec(cmd: string[]): { status: number | null; stdout: string; stderr: string };
  kill(): Promise<void>;
}

export async function startContainer(): Promise<FakeContainer> {
  const own = readlinkSync("/proc/self/ns/net");
  const child: ChildProcess = spawn("unshare", ["--net", "--", "sleep", "600"], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("cannot start unshare");
  // unshare execs sleep in the same process once the namespace exists.
  for (let i = 0; i < 500; i++) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== own) break;
    } catch {
      // not yet
    }
    await sleep(5);
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid,
    exec: (cmd) => {
      const r = spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "--", ...cmd], { encoding: "utf8" });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** Names of the links in the test's namespace (or a container's, given its exec). */
export function linkNames(exec?: FakeContainer["exec"]): string[] {
  const cmd = ["ip", "-j", "link", "show"];
  const out =
    exec !== undefined ? exec(cmd).stdout : spawnSync(cmd[0] ?? "ip", cmd.slice(1), { encoding: "utf8" }).stdout;
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

/** One ICMP echo from inside a container (busybox ping: Debian's iputils may be absent). */
export function ping(from: FakeContainer, address: string): boolean {
  const r = from.exec(["busybox", "ping", "-c", "1", "-W", "2", address]);
  return r.status === 0;
}
