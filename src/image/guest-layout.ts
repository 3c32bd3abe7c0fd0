/**
 * Where a guest's Corral parts live and how its commands start. The default guest is a busybox
 * initramfs (and the root disks `corral image build` makes of it): busybox is /bin, and a
 * command runs under busybox `sh`. A Debian root disk (image/debian/) has Debian's own /bin:
 * Corral's busybox lives apart in /usr/lib/corral (its applets never shadow Debian's programs),
 * /init and the agent run on it (/run is a tmpfs there too, as Debian expects), and the commands they start (`corral run -- cmd`, `corral
 * exec`, the console shell) run under Debian's shell with Debian's PATH.
 */
export interface GuestLayout {
  /** The interpreter line of /init and the agent. */
  shebang: string;
  /** The PATH of /init and the agent. */
  path: string;
  /** The busybox binary (shutdown.ts calls it by path: the console's PATH may not have it). */
  busybox: string;
  /** The PATH of the commands the agent starts (`corral exec`): it runs them without a shell. */
  commandPath: string;
  /** What runs a command's script file: the words before its path. */
  commandShell: string;
  /** The console's login shell, run under cttyhack. */
  loginShell: string;
}

export const BUSYBOX_LAYOUT: GuestLayout = {
  shebang: "#!/bin/sh",
  path: "/bin:/sbin:/usr/bin:/usr/sbin",
  busybox: "/bin/busybox",
  commandPath: "/bin:/sbin:/usr/bin:/usr/sbin",
  commandShell: "sh",
  loginShell: "sh -l",
};

/** Corral's directory on a Debian root disk: busybox, and its applets under bin/. */
export const DEBIAN_CORRAL_DIR = "/usr/lib/corral";
/** Debian's PATH for root (base-files' /etc/profile). */
export const DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export const DEBIAN_LAYOUT: GuestLayout = {
  shebang: `#!${DEBIAN_CORRAL_DIR}/busybox sh`,
  path: `${DEBIAN_CORRAL_DIR}/bin:${DEBIAN_PATH}`,
  busybox: `${DEBIAN_CORRAL_DIR}/busybox`,
  commandPath: DEBIAN_PATH,
  // busybox env sets Debian's PATH and execs Debian's /bin/sh (dash): no busybox applet is
  // taken for a Debian program of the same name (dpkg, say).
  commandShell: `env PATH=${DEBIAN_PATH} /bin/sh`,
  loginShell: `env PATH=${DEBIAN_PATH} /bin/bash -l`,
};
