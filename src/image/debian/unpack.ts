/**
 * Unpacking a .deb on the host as dpkg's own unpack would leave it, so that the guest has only
 * to configure (dpkg(1) --configure -a): the data archive extracted, conffiles as
 * <path>.dpkg-new, the control members in /var/lib/dpkg/info/<name>.* (the file list .list from
 * the archive itself), the package's stanza in the status file as "install ok unpacked" with its
 * conffiles marked "newconffile", and its trigger interests registered (dpkg's triggers/File and
 * triggers/<name>, deb-triggers(5)). What the host cannot do is run the preinst (the scripts are
 * for the guest's architecture): the second stage runs each before configuring (second-stage.ts).
 */
import { execFileSync } from "node:child_process";
import { ImageError } from "../errors.js";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export const DPKG_ADMIN = "var/lib/dpkg";

export interface Unpacked {
  /** The package's name in dpkg's info directory: "pkg", or "pkg:arch" for Multi-Arch: same. */
  infoName: string;
  hasPreinst: boolean;
}

/** Unpack `deb` into `root` (whose DPKG_ADMIN exists); append its stanza to the status file. */
export function unpackDeb(deb: string, root: string, tmp: string): Unpacked {
  const ctl = mkdtempSync(join(tmp, "ctl-"));
  try {
    run("dpkg-deb", ["-e", deb, ctl]);
    const control = readFileSync(join(ctl, "control"), "utf8").replace(/\n+$/, "");
    const field = (name: string): string | undefined =>
      new RegExp(`^${name}:[ \\t]*(.*)$`, "mi").exec(control)?.[1]?.trim();
    const pkg = field("Package");
    const arch = field("Architecture");
    if (!pkg || !arch) throw new ImageError("IMAGE_UNPACK_FAILED", `${deb} has no Package or Architecture field`);
    const infoName = field("Multi-Arch") === "same" ? `${pkg}:${arch}` : pkg;
    // --keep-directory-symlink: a ./bin/ entry must not replace merged /usr's link by a directory.
    const names = run("sh", [
      "-c",
      'dpkg-deb --fsys-tarfile "$1" | tar -xv --quoting-style=literal --keep-directory-symlink -C "$2"',
      "sh",
      deb,
      root,
    ])
      .split("\n")
      .filter(Boolean);
    const admin = join(root, DPKG_ADMIN);
    const list = names.map((n) => (n === "./" ? "/." : n.replace(/^\./, "").replace(/\/$/, "")));
    writeFileSync(join(admin, "info", `${infoName}.list`), list.join("\n") + "\n");
    const conffiles = existsSync(join(ctl, "conffiles"))
      ? readFileSync(join(ctl, "conffiles"), "utf8")
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l.startsWith("/"))
      : [];
    // dpkg leaves a new conffile as .dpkg-new until --configure puts it in place.
    for (const c of conffiles) {
      if (existsSync(join(root, c))) renameSync(join(root, c), join(root, `${c}.dpkg-new`));
    }
    for (const m of readdirSync(ctl)) {
      if (m !== "control") copyFileSync(join(ctl, m), join(admin, "info", `${infoName}.${m}`));
    }
    registerTriggers(admin, pkg, join(ctl, "triggers"));
    const rest = control.replace(/^Package:.*\n/m, "");
    const conf = conffiles.length > 0 ? `\nConffiles:\n${conffiles.map((c) => ` ${c} newconffile`).join("\n")}` : "";
    appendFileSync(join(admin, "status"), `Package: ${pkg}\nStatus: install ok unpacked\n${rest}${conf}\n\n`);
    return { infoName, hasPreinst: existsSync(join(ctl, "preinst")) };
  } finally {
    rmSync(ctl, { recursive: true, force: true });
  }
}

/** A package's trigger interests (deb-triggers(5)): file triggers in triggers/File, named ones in triggers/<name>. */
function registerTriggers(admin: string, pkg: string, file: string): void {
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^\s*(interest|interest-await|interest-noawait)\s+(\S+)/.exec(line);
    if (!m) continue;
    const who = `${pkg}${m[1] === "interest-noawait" ? "/noawait" : ""}`;
    const name = m[2]!;
    if (name.startsWith("/")) appendFileSync(join(admin, "triggers", "File"), `${name} ${who}\n`);
    else if (/^[\x21-\x7e]+$/.test(name) && !name.includes("/"))
      appendFileSync(join(admin, "triggers", name), `${who}\n`);
  }
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 << 20 });
  } catch (e) {
    const msg = String((e as { stderr?: unknown }).stderr ?? e).trim();
    if (/No space left/i.test(msg)) throw new ImageError("DISK_FULL", `no space left while unpacking: ${msg}`);
    throw new ImageError("IMAGE_UNPACK_FAILED", `${cmd} ${args.slice(-2).join(" ")}: ${msg.split("\n")[0]}`);
  }
}
