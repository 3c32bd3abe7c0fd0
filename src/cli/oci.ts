import { connect } from "node:net";
import { join, resolve } from "node:path";
import { usageError } from "../args.js";
import { ociCall, splitGlobals } from "../containers/oci/call.js";
import { processIO } from "../containers/oci/io.js";
import { defaultRoot } from "../containers/runtime/rootless.js";
import { encodeFrame, FrameReader, SOCKET_NAME, TO_CLIENT, TO_SERVER } from "../containers/server/protocol.js";
import { DEFAULT_IDLE_MS, serve } from "../containers/server/server.js";

export { VERSION_TEXT } from "../containers/oci/call.js";

/**
 * `corral oci`: Corral's OCI runtime, command-line compatible with runc (global flags --root,
 * --log, --log-format, --debug; the runc command set), so podman and containerd can use it
 * through bin/corral-oci. `corral oci server run|stop|status` manages the resident server that
 * bin/corral-oci's native client hands calls to (src/containers/server/).
 */
export async function main(argv: string[]): Promise<number> {
  const { globals, command, rest } = splitGlobals(argv);
  if (command === "server" && ["--help", "-h"].includes(rest[0] ?? "")) {
    process.stdout.write(
      "Usage: corral oci [--root DIR] server run|stop|status\n\nThe resident server bin/corral-oci hands calls to: 'run' serves, 'stop' ends it, 'status' reports it.\n",
    );
    return 0;
  }
  if (command === "server") {
    const r = globals.root;
    return serverCommand(rest[0] ?? "status", r === undefined ? defaultRoot() : resolve(r));
  }
  return ociCall(argv, processIO());
}

async function serverCommand(sub: string, root: string): Promise<number> {
  if (sub === "run") {
    const idle = Number(process.env["CORRAL_OCI_SERVER_IDLE_MS"] ?? DEFAULT_IDLE_MS);
    await serve({ root, idleMs: Number.isFinite(idle) && idle > 0 ? idle : DEFAULT_IDLE_MS });
    return 0;
  }
  if (sub !== "stop" && sub !== "status") throw usageError(`unknown server command '${sub}'; use run, stop or status`);
  // Node is running this call (no client, or it fell back): talk to the server directly.
  return new Promise<number>((done) => {
    const sock = connect(join(root, SOCKET_NAME));
    const reader = new FrameReader();
    let code = 0;
    sock.on("connect", () => {
      sock.write(encodeFrame(TO_SERVER.ARGS, `server\0${sub}\0`));
      sock.write(encodeFrame(TO_SERVER.GO));
    });
    sock.on("data", (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.type === TO_CLIENT.STDOUT) process.stdout.write(f.payload);
        else if (f.type === TO_CLIENT.EXIT) code = f.payload.readUInt32LE(0);
      }
    });
    sock.on("error", () => {
      if (sub === "status") process.stdout.write(`no corral-oci server for ${root}\n`);
      code = sub === "status" ? 1 : 0;
    });
    sock.on("close", () => done(code));
  });
}
