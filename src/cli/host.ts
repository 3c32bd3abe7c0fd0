/**
 * `corral host ksm on|off|status`: the host kernel's same-page merging (src/sys/ksm.ts). ksmd
 * merges only the RAM of VMs started with --share-memory (or with CORRAL_SHARE_MEMORY=1).
 */
import { usageError } from "../args.js";
import { ksmStatus, setKsm, type KsmStatus } from "../sys/ksm.js";

export const HOST_USAGE = `Usage: corral host ksm on|off|status

  on      start the host kernel's same-page merging daemon (ksmd; root), scanning
          ${"PAGES_TO_SCAN"} pages every ${"SLEEP_MS"} ms
  off     stop it and split every merged page again (run=2)
  status  show whether it runs and what it saves

ksmd merges identical pages only in memory offered to it: the guest RAM of VMs started with
--share-memory, or of every VM with CORRAL_SHARE_MEMORY=1. Merging is a timing side channel
between VMs (a write to a merged page takes a copy-on-write fault another VM can time), so
it is off unless you turn it on.
`;

/** Scan rate of \`on\`: 1000 pages (4 MiB) every 20 ms, a few percent of a core while there is work. */
export const KSM_ON = { pagesToScan: 1000, sleepMs: 20 } as const;

const mib = (pages: number): string => `${((pages * 4096) / 2 ** 20).toFixed(1)} MiB`;

export function formatKsm(s: KsmStatus): string {
  const state = s.run === 1 ? "running" : s.run === 2 ? "stopped (merged pages split)" : "stopped";
  return [
    `ksm: ${state}; scans ${s.pagesToScan} pages every ${s.sleepMs} ms; full scans ${s.fullScans}`,
    `ksm: pages shared ${s.pagesShared} (${mib(s.pagesShared)}), sharing ${s.pagesSharing} (saves ${mib(s.pagesSharing)}), unshared ${s.pagesUnshared}` +
      (s.generalProfit !== undefined ? `; general profit ${(s.generalProfit / 2 ** 20).toFixed(1)} MiB` : ""),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  await Promise.resolve();
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      HOST_USAGE.replace("PAGES_TO_SCAN", String(KSM_ON.pagesToScan)).replace("SLEEP_MS", String(KSM_ON.sleepMs)),
    );
    return 0;
  }
  const [what, action, extra] = argv;
  if (what !== "ksm" || extra !== undefined)
    throw usageError("usage: corral host ksm on|off|status; see 'corral host --help'");
  switch (action) {
    case "on":
      setKsm({ run: 1, ...KSM_ON });
      break;
    case "off":
      setKsm({ run: 2 });
      break;
    case "status":
      break;
    default:
      throw usageError(
        `'${action ?? ""}' is not a ksm action: use 'corral host ksm on', 'off' or 'status'; see 'corral host --help'`,
      );
  }
  process.stdout.write(formatKsm(ksmStatus()) + "\n");
  return 0;
}
