export { reportError } from "./report.js";

/**
 * `corral` entry point: one verb per module (kvmtool's builtin-*.c), loaded lazily so that a
 * verb pays only for what it imports. Every verb module exports `main(argv): Promise<number>`.
 */
type Verb = { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> };

const verbs: Record<string, Verb> = {
  run: { summary: "boot a RISC-V Linux guest (or a bare-metal program)", load: () => import("./run.js") },
  image: { summary: "fetch and build guest images", load: () => import("./image.js") },
  oci: { summary: "OCI runtime, command-line compatible with runc", load: () => import("./oci.js") },
  container: { summary: "run and manage OS-level containers", load: () => import("./container.js") },
  ps: { summary: "list running VMs (-a: and those that ended)", load: () => import("./ps.js") },
  exec: { summary: "run a command in a running VM", load: () => import("./exec.js") },
  console: { summary: "attach to a running VM's serial console", load: () => import("./console.js") },
  stop: { summary: "power a running VM off", load: () => import("./stop.js") },
  rm: { summary: "remove VMs that ended (-f: stop them first)", load: () => import("./rm.js") },
  vm: { summary: "change a running VM (memory)", load: () => import("./vm.js") },
  vf: {
    summary: "SR-IOV virtual functions of a running VM's NICs (MAC, VLAN, rate, ...)",
    load: () => import("./vf.js"),
  },
  host: { summary: "this host's settings for VMs (KSM page sharing)", load: () => import("./host.js") },
  snapshot: { summary: "write a running VM's snapshot into a new directory", load: () => import("./snapshot.js") },
  restore: { summary: "start a VM from a snapshot", load: () => import("./restore.js") },
  fork: { summary: "make running clones of a running VM (shared memory)", load: () => import("./fork.js") },
  pool: { summary: "warm VM processes that restore and fork take", load: () => import("./pool.js") },
};

export const USAGE = `Usage: corral <command> [options]

Commands:
${Object.entries(verbs)
  .map(([name, v]) => `  ${name.padEnd(10)} ${v.summary}`)
  .join("\n")}

Run 'corral <command> --help' for the options of a command.`;

export async function cliMain(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    process.stdout.write(USAGE + "\n");
    return verb === undefined ? 2 : 0;
  }
  if (verb === "--version") {
    process.stdout.write("corral 0.1.0\n");
    return 0;
  }
  const v = verbs[verb];
  if (!v) {
    process.stderr.write(`corral: unknown command '${verb}'; run 'corral --help' for the list\n`);
    return 2;
  }
  const mod = await v.load();
  return mod.main(rest);
}
