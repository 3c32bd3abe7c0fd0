// Every structure in protocol.ts against the host's <linux/fuse.h>, through gcc: each field's
// offset (the C name is the snake_case of ours; `size_` is C's `size`) and each sizeof.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { compileC } from "../../../../tests/containers-lib/cc.js";
import * as P from "./protocol.js";

const STRUCTS: Record<string, Record<string, number>> = {
  fuse_in_header: P.IN_HEADER,
  fuse_out_header: P.OUT_HEADER,
  fuse_attr: P.ATTR,
  fuse_entry_out: P.ENTRY_OUT,
  fuse_attr_out: P.ATTR_OUT,
  fuse_init_in: P.INIT_IN,
  fuse_init_out: P.INIT_OUT,
  fuse_forget_in: P.FORGET_IN,
  fuse_batch_forget_in: P.BATCH_FORGET_IN,
  fuse_forget_one: P.FORGET_ONE,
  fuse_getattr_in: P.GETATTR_IN,
  fuse_setattr_in: P.SETATTR_IN,
  fuse_mknod_in: P.MKNOD_IN,
  fuse_mkdir_in: P.MKDIR_IN,
  fuse_rename_in: P.RENAME_IN,
  fuse_rename2_in: P.RENAME2_IN,
  fuse_link_in: P.LINK_IN,
  fuse_open_in: P.OPEN_IN,
  fuse_create_in: P.CREATE_IN,
  fuse_open_out: P.OPEN_OUT,
  fuse_release_in: P.RELEASE_IN,
  fuse_flush_in: P.FLUSH_IN,
  fuse_read_in: P.READ_IN,
  fuse_write_in: P.WRITE_IN,
  fuse_write_out: P.WRITE_OUT,
  fuse_kstatfs: P.KSTATFS,
  fuse_fsync_in: P.FSYNC_IN,
  fuse_access_in: P.ACCESS_IN,
  fuse_fallocate_in: P.FALLOCATE_IN,
  fuse_lseek_in: P.LSEEK_IN,
  fuse_lseek_out: P.LSEEK_OUT,
  fuse_dirent: P.DIRENT,
};

const cName = (f: string): string => (f === "size_" ? "size" : f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

test("FUSE structures match the host's <linux/fuse.h>", () => {
  const lines: string[] = [];
  const keys: [string, number][] = [];
  for (const [s, fields] of Object.entries(STRUCTS)) {
    for (const [f, v] of Object.entries(fields)) {
      const expr = f === "size" ? `sizeof(struct ${s})` : `offsetof(struct ${s}, ${cName(f)})`;
      lines.push(`  printf("%llu\\n", (unsigned long long)(${expr}));`);
      keys.push([`${s}.${f}`, v]);
    }
  }
  const ops = Object.entries(P.Op);
  for (const [name] of ops) lines.push(`  printf("%llu\\n", (unsigned long long)FUSE_${name});`);
  const src = `#include <stdio.h>\n#include <stddef.h>\n#include <linux/fuse.h>\nint main(void) {\n${lines.join("\n")}\n  return 0;\n}\n`;
  const prog = compileC("fuse-layout", src);
  try {
    const r = spawnSync(prog.exe, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.trim().split("\n").map(Number);
    keys.forEach(([k, v], i) => assert.equal(v, got[i], k));
    ops.forEach(([name, v], i) => assert.equal(v, got[keys.length + i], `FUSE_${name}`));
  } finally {
    prog.cleanup();
  }
  assert.equal(P.direntSize(1), 32);
  assert.equal(P.direntSize(8), 32);
  assert.equal(P.direntSize(9), 40);
});
