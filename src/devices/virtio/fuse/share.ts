/**
 * `--share HOST_DIR:TAG[,ro]`: a host directory shared with the guest through virtio-fs. The
 * syntax and the one-line checks that come before a VM is built.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { CorralError } from "../../../errors.js";

export type ShareErrorCode = "BAD_SHARE" | "SHARE_NOT_FOUND" | "SHARE_NOT_DIRECTORY";

export interface ShareSpec {
  /** Absolute path of the host directory. */
  path: string;
  tag: string;
  readOnly: boolean;
}

const USAGE = "use --share HOST_DIR:TAG[,ro]";

/** "DIR:TAG" or "DIR:TAG,ro" (the last ':' separates the tag, so DIR may hold one). */
export function parseShareSpec(text: string): ShareSpec {
  let rest = text;
  let readOnly = false;
  if (rest.endsWith(",ro")) {
    readOnly = true;
    rest = rest.slice(0, -3);
  }
  const colon = rest.lastIndexOf(":");
  const dir = colon < 0 ? "" : rest.slice(0, colon);
  const tag = colon < 0 ? "" : rest.slice(colon + 1);
  if (dir === "" || tag === "" || tag.includes(","))
    throw new CorralError<ShareErrorCode>("BAD_SHARE", `--share '${text}': ${USAGE}`, { exitCode: 2 });
  return { path: resolve(dir), tag, readOnly };
}

/** The directory exists and is one, or a one-line CorralError saying so. */
export function checkShareDir(path: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new CorralError<ShareErrorCode>("SHARE_NOT_FOUND", `shared directory ${path} does not exist`, {
      exitCode: 2,
    });
  }
  if (!isDir)
    throw new CorralError<ShareErrorCode>("SHARE_NOT_DIRECTORY", `${path} is not a directory: share a directory`, {
      exitCode: 2,
    });
}

/** Every share of a spec's devices is a directory (checked before a VM is built or started). */
export function checkShares(devices: readonly { kind: string; path?: string }[]): void {
  for (const d of devices) if (d.kind === "fs" && d.path !== undefined) checkShareDir(d.path);
}
