// Masks from capabilitySets applied by a C helper (capset with encodeCapset's bytes, prctl for the
// bounding and ambient sets); the kernel's view in /proc/self/status must equal the masks.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { compileC, type CProgram } from "../../../tests/containers-lib/cc.js";
import {
  ENGINE_DEFAULT_CAPABILITIES,
  RUNC_DEFAULT_CAPABILITIES,
  capabilityNames,
  capabilitySets,
  type CapabilitySets,
} from "./capabilities.js";
import { CAP_USER_DATA, CAP_USER_HEADER, LINUX_CAPABILITY_VERSION_3, PR, encodeCapset } from "./capset.js";

const HELPER = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  unsigned char buf[64];
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(buf, 1, 32, f) != 32) { perror("capset file"); return 2; }
  fclose(f);
  unsigned long long bnd = strtoull(argv[2], NULL, 16), amb = strtoull(argv[3], NULL, 16);
  int last = 0;
  f = fopen("/proc/sys/kernel/cap_last_cap", "r");
  if (!f || fscanf(f, "%d", &last) != 1) return 2;
  fclose(f);
  for (int c = 0; c <= last; c++)
    if (!((bnd >> c) & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) { perror("PR_CAPBSET_DROP"); return 3; }
  if (syscall(SYS_capset, (void *)buf, (void *)(buf + 8)) != 0) { perror("capset"); return 4; }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) { perror("ambient clear"); return 5; }
  for (int c = 0; c <= last; c++)
    if (((amb >> c) & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) { perror("ambient raise"); return 6; }
  char line[256];
  f = fopen("/proc/self/status", "r");
  while (fgets(line, sizeof line, f)) if (strncmp(line, "Cap", 3) == 0) fputs(line, stdout);
  return 0;
}
`;

const LAYOUT = `
#include <stdio.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <linux/capability.h>
int main(void) {
  printf("%zu %zu %zu\\n", offsetof(struct __user_cap_header_struct, version), offsetof(struct __user_cap_header_struct, pid), sizeof(struct __user_cap_header_struct));
  printf("%zu %zu %zu %zu %d\\n", offsetof(struct __user_cap_data_struct, effective), offsetof(struct __user_cap_data_struct, permitted), offsetof(struct __user_cap_data_struct, inheritable), sizeof(struct __user_cap_data_struct), _LINUX_CAPABILITY_U32S_3);
  printf("%d %d %d %d %d %d %d %d\\n", _LINUX_CAPABILITY_VERSION_3, PR_SET_KEEPCAPS, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL);
  return 0;
}
`;

let helper: CProgram;
before(() => (helper = compileC("capapply", HELPER)));
after(() => helper.cleanup());

test("capset and prctl layouts match the C headers", () => {
  const p = compileC("capset-layout", LAYOUT);
  try {
    const rows = spawnSync(p.exe, { encoding: "utf8" })
      .stdout.trim()
      .split("\n")
      .map((l) => l.split(" ").map(Number));
    assert.deepEqual(rows[0], [CAP_USER_HEADER.version, CAP_USER_HEADER.pid, CAP_USER_HEADER.size]);
    assert.deepEqual(rows[1], [
      CAP_USER_DATA.effective,
      CAP_USER_DATA.permitted,
      CAP_USER_DATA.inheritable,
      CAP_USER_DATA.size,
      CAP_USER_DATA.count,
    ]);
    assert.deepEqual(rows[2], [
      LINUX_CAPABILITY_VERSION_3,
      PR.SET_KEEPCAPS,
      PR.CAPBSET_READ,
      PR.CAPBSET_DROP,
      PR.SET_NO_NEW_PRIVS,
      PR.CAP_AMBIENT,
      PR.CAP_AMBIENT_RAISE,
      PR.CAP_AMBIENT_CLEAR_ALL,
    ]);
  } finally {
    p.cleanup();
  }
});

function applyAndRead(sets: CapabilitySets): Record<string, bigint> {
  const { header, data } = encodeCapset(sets);
  const file = join(helper.dir, "capset.bin");
  writeFileSync(file, Buffer.concat([header, data]));
  const r = spawnSync(helper.exe, [file, sets.bounding.toString(16), sets.ambient.toString(16)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out: Record<string, bigint> = {};
  for (const m of r.stdout.matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)) out[m[1] ?? ""] = BigInt(`0x${m[2] ?? "0"}`);
  return out;
}

const ownBounding = BigInt(
  `0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`,
);
const OWN = capabilityNames(ownBounding);

const cases: Record<string, unknown> = {
  "runc's defaults (inheritable added, which ambient needs)": {
    bounding: RUNC_DEFAULT_CAPABILITIES,
    effective: RUNC_DEFAULT_CAPABILITIES,
    permitted: RUNC_DEFAULT_CAPABILITIES,
    inheritable: RUNC_DEFAULT_CAPABILITIES,
    ambient: RUNC_DEFAULT_CAPABILITIES,
  },
  "container engines' defaults": {
    bounding: ENGINE_DEFAULT_CAPABILITIES,
    effective: ENGINE_DEFAULT_CAPABILITIES,
    permitted: ENGINE_DEFAULT_CAPABILITIES,
  },
  "five different sets": {
    bounding: ENGINE_DEFAULT_CAPABILITIES,
    permitted: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
    effective: ["CAP_CHOWN", "CAP_KILL"],
    inheritable: ["CAP_KILL", "CAP_NET_RAW"],
    ambient: ["CAP_KILL"],
  },
  // Every capability this test process may hold (a sandbox may lack some), including those above bit 31.
  "every capability we hold": {
    bounding: OWN,
    effective: OWN,
    permitted: OWN,
    inheritable: OWN,
    ambient: OWN.filter((n) => n === "CAP_SYSLOG" || n === "CAP_CHECKPOINT_RESTORE"),
  },
  "nothing at all": {},
};

for (const [name, spec] of Object.entries(cases)) {
  test(`the kernel shows the computed masks: ${name}`, () => {
    const sets = capabilitySets(spec);
    const seen = applyAndRead(sets);
    assert.deepEqual(
      {
        CapBnd: seen["CapBnd"],
        CapEff: seen["CapEff"],
        CapPrm: seen["CapPrm"],
        CapInh: seen["CapInh"],
        CapAmb: seen["CapAmb"],
      },
      {
        CapBnd: sets.bounding,
        CapEff: sets.effective,
        CapPrm: sets.permitted,
        CapInh: sets.inheritable,
        CapAmb: sets.ambient,
      },
    );
  });
}
