/**
 * Corral's files on a Debian root disk (none of them owned by a package): busybox and its applets
 * in /usr/lib/corral, /init and the agent for the Debian layout (guest-layout.ts), `poweroff` for
 * the console's shell, the hostname, and apt's source: the mirror the disk was built from.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GUEST_AGENT_PATH, guestAgent } from "../agent.js";
import { busyboxApplets } from "../busybox.js";
import { DEBIAN_CORRAL_DIR, DEBIAN_LAYOUT } from "../guest-layout.js";
import { GUEST_HOSTNAME, initScript } from "../init-script.js";
import { DEBIAN_KEYRING } from "../apt.js";
import { shutdownFunction } from "../shutdown.js";

const POWEROFF = `${DEBIAN_CORRAL_DIR}/poweroff`;

function put(root: string, path: string, text: string | Uint8Array, mode = 0o644): void {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
}

export function writeCorralFiles(root: string, o: { busybox: Uint8Array; mirror: string; suite: string }): void {
  put(root, `${DEBIAN_CORRAL_DIR}/busybox`, o.busybox, 0o755);
  mkdirSync(join(root, DEBIAN_CORRAL_DIR, "bin"), { recursive: true });
  for (const a of busyboxApplets(o.busybox)) {
    if (a !== "busybox") symlinkSync("../busybox", join(root, DEBIAN_CORRAL_DIR, "bin", a));
  }
  put(root, "init", initScript(DEBIAN_LAYOUT), 0o755);
  // /bin is Debian's merged /usr link: the agent's file is under usr/bin. The agent is static and
  // needs no C library (native/corral-agent.c): the same binary as the default guest's.
  put(root, join("usr", GUEST_AGENT_PATH), guestAgent(), 0o755);
  put(root, POWEROFF, `${DEBIAN_LAYOUT.shebang}\n${shutdownFunction(DEBIAN_LAYOUT.busybox)}corral_poweroff\n`, 0o755);
  put(
    root,
    "etc/profile.d/corral.sh",
    `# Corral: there is no init system to ask; these leave the root disk clean and power off.\n` +
      `poweroff() { ${POWEROFF}; }\nhalt() { ${POWEROFF}; }\nreboot() { ${POWEROFF}; }\n`,
  );
  put(root, "etc/hostname", `${GUEST_HOSTNAME}\n`);
  put(
    root,
    "etc/hosts",
    `127.0.0.1\tlocalhost\n127.0.1.1\t${GUEST_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  put(
    root,
    "etc/apt/sources.list.d/debian.sources",
    `Types: deb\nURIs: ${o.mirror}\nSuites: ${o.suite}\nComponents: main\nSigned-By: ${DEBIAN_KEYRING}\n`,
  );
}
