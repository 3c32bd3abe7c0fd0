/**
 * The byte encoding of a `corral exec -t` stream. The guest's busybox has no `script` applet;
 * its only pseudo-terminal server is `telnetd -i` (inetd mode: the telnet connection is stdin and
 * stdout), so the agent runs the command under it and the host speaks its side of TELNET
 * (RFC 854) over the exec's stdin and stdout:
 *   - to the guest, a data byte 255 is IAC and is doubled (RFC 854, "IAC ... data byte 255");
 *   - from the guest, IAC commands are removed: telnetd's opening option negotiation
 *     (IAC DO ECHO, DO NAWS, WILL ECHO, WILL SGA: RFC 857, 1073, 858) and any other 2-byte,
 *     3-byte (WILL/WONT/DO/DONT) or subnegotiation (SB ... IAC SE) command; IAC IAC is a 255.
 * telnetd also prints the login banner's empty line ("\r" then a newline, "\r\r\n" on a terminal
 * with ONLCR) on the pseudo-terminal before it starts the command: the decoder drops it.
 */
export const IAC = 255;
const SE = 240;
const SB = 250;
const WILL = 251;
const DONT = 254;

const BANNER = Buffer.from("\r\r\n", "latin1");

/** Data bytes to send to telnetd: 255 doubled. */
export function telnetEncode(data: Uint8Array): Buffer {
  let n = 0;
  for (const b of data) if (b === IAC) n++;
  if (n === 0) return Buffer.from(data);
  const out = Buffer.alloc(data.length + n);
  let o = 0;
  for (const b of data) {
    out[o++] = b;
    if (b === IAC) out[o++] = IAC;
  }
  return out;
}

/** Decodes telnetd's output into terminal bytes; commands may be split across chunks. */
export class TelnetDecoder {
  /** 0 data, 1 after IAC, 2 after an option verb, 3 in SB, 4 after IAC in SB. */
  private state = 0;
  /** Bytes of output seen while the banner line may still be coming. */
  private head: Buffer | undefined = Buffer.alloc(0);

  push(chunk: Uint8Array): Buffer {
    const out: number[] = [];
    for (const b of chunk) {
      switch (this.state) {
        case 0:
          if (b === IAC) this.state = 1;
          else out.push(b);
          break;
        case 1:
          if (b === IAC) {
            out.push(IAC);
            this.state = 0;
          } else if (b === SB) this.state = 3;
          else if (b >= WILL && b <= DONT) this.state = 2;
          else this.state = 0;
          break;
        case 2:
          this.state = 0;
          break;
        case 3:
          if (b === IAC) this.state = 4;
          break;
        case 4:
          this.state = b === SE ? 0 : 3;
          break;
      }
    }
    return this.dropBanner(Buffer.from(out));
  }

  private dropBanner(data: Buffer): Buffer {
    if (this.head === undefined) return data;
    const head = Buffer.concat([this.head, data]);
    const n = Math.min(head.length, BANNER.length);
    if (!head.subarray(0, n).equals(BANNER.subarray(0, n))) {
      this.head = undefined;
      return head;
    }
    if (head.length < BANNER.length) {
      this.head = head;
      return Buffer.alloc(0);
    }
    this.head = undefined;
    return head.subarray(BANNER.length);
  }
}
