/**
 * The stable codes of the errors of OS-level containers and the OCI runtime (src/containers): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";
import type { UsageErrorCode } from "../args.js";

export type ContainerErrorCode =
  | UsageErrorCode
  | "BUSYBOX_MISSING"
  | "CAPABILITY_INVALID"
  | "CAPABILITY_UNKNOWN"
  | "CGROUP_BUSY"
  | "CGROUP_CONTROLLER_MISSING"
  | "CGROUP_LIMIT_REFUSED"
  | "CONTAINER_EXEC"
  | "CONTAINER_EXISTS"
  | "CONTAINER_RUNNING"
  | "IMAGE_NOT_FOUND"
  | "IMAGE_UNPACK_FAILED"
  | "NET_DEVICE_MISSING"
  | "NET_DRIVER_MISSING"
  | "NET_INVALID_ID"
  | "NET_INVALID_NAME"
  | "NET_LOCK_TIMEOUT"
  | "NET_NO_PROCESS"
  | "NET_POOL_EXHAUSTED"
  | "NET_SAME_NAMESPACE"
  | "NET_STATE_CORRUPT"
  | "NET_SUBNET_CONFLICT"
  | "NET_SUBNET_INVALID"
  | "NET_TOOL_MISSING"
  | "OCI_BAD_ID"
  | "OCI_BAD_SIGNAL"
  | "OCI_BUNDLE_INVALID"
  | "OCI_CLIENT_GONE"
  | "OCI_CONFIG_INVALID"
  | "OCI_CONTAINER_EXITED"
  | "OCI_CONTAINER_START_FAILED"
  | "OCI_EXISTS"
  | "OCI_HELPER_MISSING"
  | "OCI_HOOK_FAILED"
  | "OCI_IDMAP_DENIED"
  | "OCI_KILL_FAILED"
  | "OCI_MOUNT_SOURCE_MISSING"
  | "OCI_NAMESPACE_MISSING"
  | "OCI_NEWUIDMAP_MISSING"
  | "OCI_NOT_CREATED"
  | "OCI_NOT_FOUND"
  | "OCI_NOT_PAUSED"
  | "OCI_NOT_RUNNING"
  | "OCI_NO_CGROUP"
  | "OCI_PATH_LOOP"
  | "OCI_SERVER_FAILED"
  | "OCI_START_TIMEOUT"
  | "OCI_STATE_FAILED"
  | "OCI_SYSTEMD_CGROUP"
  | "OCI_USERNS_DISABLED"
  | "SECCOMP_INVALID"
  | "SECCOMP_UNSUPPORTED"
  | "SECCOMP_UNSUPPORTED_ARCH";

/** An error of OS-level containers and the OCI runtime (src/containers): a CorralError whose code is a ContainerErrorCode. */
export class ContainerError extends CorralError<ContainerErrorCode> {}
