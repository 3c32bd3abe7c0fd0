/**
 * Container start-up benchmark (issue 4): 100 sequential `/bin/true` containers from one
 * busybox bundle, through runc, crun (where it works), `corral oci run` (the CLI: its native
 * client with the resident server, and with the server off, a new Node process per container)
 * and Corral's in-process API (one Node process for all 100), in one run.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { busyboxRootfs } from "../containers/image/busybox.js";
import { Runtime } from "../containers/runtime/runtime.js";
import { defaultConfig } from "../containers/spec/defaults.js";
import { tempDir } from "./cleanup.js";

const OCI = join(dirname(fileURLToPath(import.meta.url)), "../../../bin/corral-oci");
const N = 100;

interface Row {
  name: string;
  ms?: number;
  note: string;
}

function timeCli(
  bin: string,
  args: (i: number) => string[],
  n: number,
  env: NodeJS.ProcessEnv = {},
): { ms: number; error?: string } {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = spawnSync(bin, args(i), { encoding: "utf8", env: { ...process.env, ...env } });
    if (r.status !== 0)
      return {
        ms: performance.now() - t0,
        error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0] ?? "",
      };
  }
  return { ms: performance.now() - t0 };
}

export async function benchContainers(): Promise<string> {
  const dir = tempDir("corral-bench-");
  spawnSync("chmod", ["0755", dir]);
  try {
    const rootfs = busyboxRootfs(join(dir, "rootfs"));
    const bundle = join(dir, "bundle");
    mkdirSync(bundle);
    writeFileSync(join(bundle, "config.json"), JSON.stringify(defaultConfig(["/bin/true"], { rootfs })));
    const rows: Row[] = [];
    const nodeMs = timeCli(process.execPath, () => ["-e", "0"], 10).ms / 10;

    const runc = timeCli("runc", (i) => ["--root", join(dir, "runc"), "run", "--bundle", bundle, `r${i}`], N);
    rows.push({
      name: "runc run (Debian runc 1.1)",
      ...(runc.error ? {} : { ms: runc.ms }),
      note: runc.error ? `failed: ${runc.error}` : "Go binary, re-executes itself as init",
    });
    const crun = timeCli("crun", (i) => ["--root", join(dir, "crun"), "run", "--bundle", bundle, `c${i}`], N);
    rows.push({
      name: "crun run (Debian crun)",
      ...(crun.error ? {} : { ms: crun.ms }),
      note: crun.error ? `does not run here: ${crun.error}` : "C",
    });
    // The first call starts the server (Node start-up and module load once): it is in the total.
    const cli = timeCli(OCI, (i) => ["--root", join(dir, "corral"), "run", "--bundle", bundle, `o${i}`], N);
    spawnSync(OCI, ["--root", join(dir, "corral"), "server", "stop"]);
    rows.push({
      name: "corral oci run (CLI: native client, resident server)",
      ...(cli.error ? {} : { ms: cli.ms }),
      note: cli.error ? `failed: ${cli.error}` : "server started by the first call (included)",
    });
    const node = timeCli(OCI, (i) => ["--root", join(dir, "corral-node"), "run", "--bundle", bundle, `n${i}`], N, {
      CORRAL_OCI_SERVER: "0",
    });
    rows.push({
      name: "corral oci run (CLI, server off: Node per call)",
      ...(node.error ? {} : { ms: node.ms }),
      note: node.error
        ? `failed: ${node.error}`
        : `a new Node process per container (node -e 0 alone: ${nodeMs.toFixed(0)} ms)`,
    });

    const rt = new Runtime({ root: join(dir, "api"), warn: () => undefined });
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const c = await rt.run(`a${i}`, { bundle, stdio: "ignore" });
      await c.exited;
      await rt.delete(`a${i}`);
    }
    rows.push({
      name: "Corral in-process API (Runtime.run + delete)",
      ms: performance.now() - t0,
      note: "one Node process; native helper per container",
    });

    const base = rows[0]?.ms;
    const out = [
      `| ${N} sequential /bin/true containers | total | per container | vs runc | notes |`,
      "|---|---|---|---|---|",
      ...rows.map((r) =>
        r.ms === undefined
          ? `| ${r.name} | - | - | - | ${r.note} |`
          : `| ${r.name} | ${(r.ms / 1000).toFixed(2)} s | ${(r.ms / N).toFixed(1)} ms | ${base ? (r.ms / base).toFixed(2) + "x" : "-"} | ${r.note} |`,
      ),
    ];
    return out.join("\n") + "\n";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchContainers().then(
    (s) => process.stdout.write(s),
    (e: unknown) => {
      process.stderr.write(String(e) + "\n");
      process.exitCode = 1;
    },
  );
}
