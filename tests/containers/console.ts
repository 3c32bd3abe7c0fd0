import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "./fixtures.js";

/**
 * The engine's side of runc's --console-socket protocol, as a tiny C program built by the test:
 * it listens on a Unix socket, takes one SCM_RIGHTS message (the pty master; the data is the
 * slave's name), prints "name=NAME" and then everything the container writes to its terminal,
 * until the container's side of the pty is closed (EIO).
 */
const SOURCE = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) { perror("bind"); return 1; }
  int c = accept(s, NULL, NULL);
  if (c < 0) { perror("accept"); return 1; }
  char name[256] = "", cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name - 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  ssize_t n = recvmsg(c, &m, 0);
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (n < 0 || !h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no fd received\\n"); return 1; }
  int master;
  memcpy(&master, CMSG_DATA(h), sizeof master);
  printf("name=%s\\n", name);
  fflush(stdout);
  close(c);
  close(s);
  char buf[4096];
  for (;;) {
    ssize_t r = read(master, buf, sizeof buf);
    if (r > 0) { fwrite(buf, 1, (size_t)r, stdout); fflush(stdout); continue; }
    if (r < 0 && errno == EINTR) continue;
    break; /* EIO: the container's side of the pty is closed */
  }
  return 0;
}
`;

export function buildReceiver(dir: string): string {
  const src = join(dir, "console-recv.c");
  const bin = join(dir, "console-recv");
  writeFileSync(src, SOURCE);
  const r = spawnSync("gcc", ["-Wall", "-o", bin, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
  return bin;
}

export interface Receiver {
  socket: string;
  output: () => Promise<string>;
  proc: ChildProcess;
}

/** Start a receiver on `socket` (as `user` if given) and wait until it listens. */
export async function startReceiver(bin: string, socket: string, user?: string): Promise<Receiver> {
  const argv = user ? ["runuser", "-u", user, "--", bin, socket] : [bin, socket];
  const proc = spawn(argv[0] ?? bin, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  // "close", not "exit": the process may exit before its last output has been read from the pipe.
  const done = new Promise<string>((resolve) => proc.on("close", () => resolve(out)));
  await until(() => existsSync(socket));
  return { socket, output: () => done, proc };
}
