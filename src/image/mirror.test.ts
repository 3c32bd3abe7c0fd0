import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findAptMirror, parseDeb822Sources, parseOneLineSources, pickDebianMirror, readAptSources } from "./mirror.js";
import { isCorralError } from "../errors.js";

// Mirror names in these tests are placeholders under the reserved .example domain (RFC 2606).
const DEB822 = `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: bookworm
`;

test("deb822 stanzas: comments, deb-src and disabled stanzas are skipped", () => {
  const s = parseDeb822Sources(DEB822, "f.sources");
  assert.deepEqual(
    s.map((x) => [x.uris, x.suites]),
    [
      [["http://mirror.example/debian"], ["bookworm", "bookworm-updates"]],
      [["http://mirror.example/debian-security"], ["bookworm-security"]],
    ],
  );
});

test("one-line sources with options and comments", () => {
  const s = parseOneLineSources(
    "# deb http://old.example/debian buster main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\n",
    "sources.list",
  );
  assert.deepEqual(
    s.map((x) => [x.uris, x.suites]),
    [[["http://one.example/debian"], ["bookworm"]]],
  );
});

test("the host's release archive wins over -security and third-party sources", () => {
  const third = { uris: ["https://deb.thirdparty.example/node"], suites: ["nodistro"], file: "n" };
  const sec = { uris: ["http://m.example/debian-security"], suites: ["bookworm-security"], file: "s" };
  const main = { uris: ["http://m.example/debian"], suites: ["bookworm"], file: "m" };
  assert.equal(pickDebianMirror([third, sec, main], "bookworm"), "http://m.example/debian");
  assert.equal(pickDebianMirror([third, sec, main], undefined), "http://m.example/debian");
  assert.equal(pickDebianMirror([third], "bookworm"), undefined);
});

test("reads a whole apt configuration directory; CORRAL_APT_MIRROR overrides it", () => {
  const etc = mkdtempSync(join(tmpdir(), "corral-apt-etc-"));
  try {
    mkdirSync(join(etc, "sources.list.d"));
    writeFileSync(join(etc, "sources.list.d", "debian.sources"), DEB822);
    writeFileSync(join(etc, "sources.list.d", "x.list.disabled"), "deb http://ignored.example/debian bookworm main\n");
    assert.equal(readAptSources(etc).length, 2);
    assert.equal(findAptMirror({}, etc), "http://mirror.example/debian");
    assert.equal(findAptMirror({ CORRAL_APT_MIRROR: "http://127.0.0.1:9/debian/" }, etc), "http://127.0.0.1:9/debian");
    rmSync(join(etc, "sources.list.d", "debian.sources"));
    assert.throws(
      () => findAptMirror({}, etc),
      (e) => isCorralError(e) && e.code === "MIRROR_NOT_CONFIGURED" && /CORRAL_APT_MIRROR/.test(e.message),
    );
  } finally {
    rmSync(etc, { recursive: true, force: true });
  }
});

test("this host's own apt configuration names a usable mirror", () => {
  const uri = findAptMirror({});
  assert.match(uri, /^(https?|file):\/\//);
  assert.ok(readAptSources().some((s) => s.uris.some((u) => u.replace(/\/+$/, "") === uri)));
});
