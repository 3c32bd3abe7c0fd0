/**
 * Round-trip time of `exec true` in a running VM: through the TypeScript API (control socket,
 * agent port, guest fork/exec, back), and through the `corral exec` CLI (plus Node's start-up).
 * One VM is booted and reused; the boot is not part of the figure. Returns markdown for
 * docs/benchmarks.md ("Exec"). No QEMU row: QEMU has no exec path of its own (it would need the
 * qemu-guest-agent, which the default image does not ship).
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Corral } from "../api/index.js";
import { vmDir } from "../vm/state.js";

const CORRAL = join(dirname(fileURLToPath(import.meta.url)), "../../../bin/corral.js");

function stats(xs: number[]): { median: number; p90: number; min: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]!, min: s[0]! };
}

export async function benchExec(runs = 20): Promise<string> {
  const vm = await Corral.start({ name: `bench-exec-${process.pid}`, memory: "512M" });
  try {
    await vm.exec(["true"]); // warm the guest's page cache for sh and busybox
    const api: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await vm.exec(["true"]);
      api.push(performance.now() - t);
      if (r.exitCode !== 0) throw new Error(`exec true exited ${r.exitCode}`);
    }
    const cli: number[] = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, [CORRAL, "exec", vm.name, "--", "true"]);
      cli.push(performance.now() - t);
      if (r.status !== 0) throw new Error(`corral exec true exited ${String(r.status)}: ${r.stderr.toString()}`);
    }
    const a = stats(api);
    const c = stats(cli);
    const ms = (x: number): string => `${x.toFixed(0)} ms`;
    return [
      `### Exec round trip (\`exec true\` in a running default guest, 1 hart, 512 MiB; ${runs} runs)`,
      "",
      "| path | median | p90 | min |",
      "|---|---|---|---|",
      `| API \`vm.exec(["true"])\` | ${ms(a.median)} | ${ms(a.p90)} | ${ms(a.min)} |`,
      `| CLI \`corral exec NAME -- true\` | ${ms(c.median)} | ${ms(c.p90)} | ${ms(c.min)} |`,
      "",
    ].join("\n");
  } finally {
    await vm.stop();
    rmSync(vmDir(vm.name), { recursive: true, force: true });
  }
}
