// A client of the control socket (the CLI, the API) loads the protocol it speaks, not the VM
// process's side: no server, no devices, no balloon, no FFI. Checked in a fresh node process with a
// module resolve hook (node:module register) that reports every ES module, and require's cache for
// CommonJS ones (koffi is loaded through require).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const DIST = new URL("../../", import.meta.url).href;

/** Imports the module at argv[1] and prints every module loaded, ES modules by URL then CommonJS by path. */
const LOADER = `
import { createRequire, register } from "node:module";
import { MessageChannel } from "node:worker_threads";
const hooks = "data:text/javascript," + encodeURIComponent(\`
  let port;
  export function initialize(data) { port = data.port; }
  export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    port.postMessage(r.url);
    return r;
  }\`);
const { port1, port2 } = new MessageChannel();
const urls = [];
const END = "node:os";
// Messages keep their order on one port: once the last import's URL arrives, all earlier ones have.
const done = new Promise((resolve) => port1.on("message", (u) => (u === END ? resolve() : urls.push(u))));
register(hooks, { data: { port: port2 }, transferList: [port2] });
await import(process.argv[1]);
await import(END);
await done;
port1.close();
const cjs = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify({ urls, cjs }));
`;

function modulesLoadedBy(url: string): { ours: string[]; cjs: string[] } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", LOADER, url], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const { urls, cjs } = JSON.parse(r.stdout) as { urls: string[]; cjs: string[] };
  return { ours: urls.filter((u) => u.startsWith(DIST)).map((u) => u.slice(DIST.length)), cjs };
}

test("the control-socket client loads no server, device, balloon, madvise or FFI module", () => {
  const { ours, cjs } = modulesLoadedBy(new URL("./client.js", import.meta.url).href);
  // The hook saw the client itself: the list below is not empty by accident.
  assert.ok(ours.includes("src/vm/client.js"), ours.join(" "));
  const serverSide = ours.filter((m) =>
    /^src\/(sys|devices|machine|cpu|net)\/|\/(server|daemon|madvise|balloon)\.js$/.test(m),
  );
  assert.deepEqual([...new Set(serverSide)], [], "the client loaded these");
  assert.ok(ours.includes("src/vm/control/protocol.js"), ours.join(" "));
  assert.deepEqual(
    cjs.filter((p) => /\/node_modules\/koffi\//.test(p)),
    [],
    "the client loaded koffi",
  );
});

test("the hook sees what the VM process's side loads (the check above can fail)", () => {
  const { ours } = modulesLoadedBy(new URL("./server.js", import.meta.url).href);
  assert.ok(ours.includes("src/devices/virtio/balloon.js") && ours.includes("src/sys/proc.js"), ours.join(" "));
});
