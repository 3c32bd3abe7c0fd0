/**
 * The stable codes of the errors of VM processes, their control socket and guest agent (src/vm): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type VmErrorCode =
  | "SHARE_MEMORY_FAILED"
  | "BAD_SHARE_MEMORY"
  | "AGENT_RESTARTED"
  | "AGENT_TIMEOUT"
  | "AGENT_VERSION"
  | "BAD_EXEC"
  | "BAD_HOSTNAME"
  | "BAD_POOL_SIZE"
  | "BAD_TTY_SIZE"
  | "BAD_VM_NAME"
  | "CONSOLE_REFUSED"
  | "EXEC_NOT_TTY"
  | "IDENTITY_FAILED"
  | "VM_BOOT_TIMEOUT"
  | "VM_CONNECTION_LOST"
  | "VM_DEVICES"
  | "VM_NAME_IN_USE"
  | "VM_NOT_ANSWERING"
  | "VM_NOT_FOUND"
  | "VM_NOT_RUNNING"
  | "VM_RUNNING"
  | "VM_START_FAILED";

/** An error of VM processes, their control socket and guest agent (src/vm): a CorralError whose code is a VmErrorCode. */
export class VmError extends CorralError<VmErrorCode> {}
