#!/usr/bin/env node
// Builds Corral's native helper (native/corral-init.c) and runtime client (native/corral-oci.c) with the host's C compiler into
// dist/native/. Run by `npm run build`; needs gcc and libc6-dev (Debian). The helper is linked
// statically so that starting it costs no dynamic loading (it runs once per container).
// Why the helper exists: see the comment at the top of native/corral-init.c.
import { execFileSync } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "dist", "native");
mkdirSync(outDir, { recursive: true });
// corral-oci: the client bin/corral-oci runs first, handing calls to the resident server.
const targets = [{ src: "native/corral-init.c", out: "corral-init" }, { src: "native/corral-oci.c", out: "corral-oci" }];
for (const t of targets) {
  const src = join(root, t.src);
  const out = join(outDir, t.out);
  let fresh = false;
  try {
    fresh = statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    fresh = false;
  }
  if (fresh) continue;
  const cc = process.env.CC ?? "gcc";
  try {
    execFileSync(cc, ["-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", out, src], { stdio: "inherit" });
  } catch (e) {
    process.stderr.write(`build-native: ${cc} failed for ${t.src}; install gcc and libc6-dev\n`);
    throw e;
  }
}
