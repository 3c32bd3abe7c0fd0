import assert from "node:assert/strict";
import { test } from "node:test";
import { IAC, TelnetDecoder, telnetEncode } from "./telnet.js";

// What busybox telnetd -i writes first: DO ECHO, DO NAWS, WILL ECHO, WILL SGA (RFC 857, 1073, 858),
// then the banner's empty line on the pseudo-terminal (seen from the guest's telnetd in the exec tests).
const OPENING = [IAC, 253, 1, IAC, 253, 31, IAC, 251, 1, IAC, 251, 3];

test("telnetd's opening negotiation and banner line are dropped; data and IAC IAC come through", () => {
  const d = new TelnetDecoder();
  const got = d.push(Buffer.from([...OPENING, ...Buffer.from("\r\r\n/dev/pts/0\r\n"), IAC, IAC, 0x41]));
  assert.deepEqual(got, Buffer.from([...Buffer.from("/dev/pts/0\r\n"), 0xff, 0x41]));
});

test("commands split across chunks, subnegotiations and a missing banner", () => {
  const d = new TelnetDecoder();
  const bytes = [
    ...OPENING,
    ...Buffer.from("\r\r\nab"),
    IAC,
    250,
    31,
    0,
    80,
    0,
    24,
    IAC,
    240,
    0x63,
    IAC,
    241,
    0x64,
    IAC,
    IAC,
  ];
  let out = Buffer.alloc(0);
  for (const b of bytes) out = Buffer.concat([out, d.push(Uint8Array.of(b))]);
  assert.equal(out.toString("latin1"), "abcd\xff");
  // Output that does not start with the banner is kept whole.
  const e = new TelnetDecoder();
  assert.equal(e.push(Buffer.from("\rx")).toString(), "\rx");
});

test("data for telnetd: byte 255 doubled, nothing else touched", () => {
  assert.deepEqual(telnetEncode(Buffer.from([1, 255, 3, 255])), Buffer.from([1, 255, 255, 3, 255, 255]));
  const plain = Buffer.from("echo hi\r\x03");
  assert.deepEqual(telnetEncode(plain), plain);
});
