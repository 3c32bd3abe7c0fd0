import { closeSync, constants, openSync, readSync, unlinkSync } from "node:fs";
import { ContainerError } from "../errors.js";

/**
 * The `start` side of the exec FIFO: the container's init blocks opening it for writing until
 * someone opens it for reading (runtime.md "start"; the mechanism is runc's). The open is
 * non-blocking so a dead init cannot hang `start`; the byte it writes confirms it went on.
 */
export async function openFifoForStart(path: string, stillAlive: () => boolean): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new ContainerError("OCI_NOT_CREATED", `cannot open ${path}: the container was started already or is gone`, {
      cause: e,
    });
  }
  try {
    const buf = Buffer.alloc(1);
    for (let i = 0; ; i++) {
      try {
        if (readSync(fd, buf, 0, 1, null) === 1) break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      }
      if (!stillAlive())
        throw new ContainerError(
          "OCI_CONTAINER_EXITED",
          "the container process exited before it could start; see its output above",
        );
      if (i > 10000)
        throw new ContainerError("OCI_START_TIMEOUT", "the container did not take the start signal within 10 s");
      await new Promise((r) => setTimeout(r, i < 50 ? 0 : 1));
    }
  } finally {
    closeSync(fd);
  }
  try {
    unlinkSync(path);
  } catch {
    // a concurrent start removed it
  }
}
