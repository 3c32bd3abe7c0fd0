/**
 * The stable codes of the errors of the network and vsock backends (src/net): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type NetErrorCode =
  | "BAD_NET"
  | "BAD_PORT_FORWARD"
  | "BAD_VSOCK"
  | "NET_LEASES"
  | "NET_PATH_TOO_LONG"
  | "NET_SWITCH"
  | "PORT_IN_USE"
  | "PORT_UNAVAILABLE"
  | "TAP_BAD_NAME"
  | "TAP_BUSY"
  | "TAP_FAILED"
  | "TAP_PERMISSION"
  | "TAP_UNAVAILABLE"
  | "VSOCK_LISTEN"
  | "VSOCK_PATH_EXISTS"
  | "VSOCK_PATH_IN_USE"
  | "VSOCK_PATH_TOO_LONG";

/** An error of the network and vsock backends (src/net): a CorralError whose code is a NetErrorCode. */
export class NetError extends CorralError<NetErrorCode> {}
