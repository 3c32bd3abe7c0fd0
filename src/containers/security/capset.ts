/**
 * Raw layouts for applying capability masks: capset(2)'s header and data (linux/capability.h,
 * _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set) and the prctl(2) operations for the
 * bounding and ambient sets. Declared once; capset.test.ts checks them against the C headers.
 */
import type { CapabilitySets } from "./capabilities.js";

export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
/** struct __user_cap_header_struct { __u32 version; int pid; } */
export const CAP_USER_HEADER = Object.freeze({ version: 0, pid: 4, size: 8 });
/** struct __user_cap_data_struct { __u32 effective, permitted, inheritable; }[_LINUX_CAPABILITY_U32S_3] */
export const CAP_USER_DATA = Object.freeze({ effective: 0, permitted: 4, inheritable: 8, size: 12, count: 2 });

/** linux/prctl.h */
export const PR = Object.freeze({
  SET_KEEPCAPS: 8,
  CAPBSET_READ: 23,
  CAPBSET_DROP: 24,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
});

/** The two buffers capset(&header, data) takes, for the calling thread (pid 0). */
export function encodeCapset(sets: Pick<CapabilitySets, "effective" | "permitted" | "inheritable">): {
  header: Uint8Array;
  data: Uint8Array;
} {
  const header = new Uint8Array(CAP_USER_HEADER.size);
  const hv = new DataView(header.buffer);
  hv.setUint32(CAP_USER_HEADER.version, LINUX_CAPABILITY_VERSION_3, true);
  hv.setInt32(CAP_USER_HEADER.pid, 0, true);
  const data = new Uint8Array(CAP_USER_DATA.size * CAP_USER_DATA.count);
  const dv = new DataView(data.buffer);
  for (let word = 0; word < CAP_USER_DATA.count; word++) {
    const base = word * CAP_USER_DATA.size;
    const part = (mask: bigint): number => Number((mask >> BigInt(32 * word)) & 0xffffffffn);
    dv.setUint32(base + CAP_USER_DATA.effective, part(sets.effective), true);
    dv.setUint32(base + CAP_USER_DATA.permitted, part(sets.permitted), true);
    dv.setUint32(base + CAP_USER_DATA.inheritable, part(sets.inheritable), true);
  }
  return { header, data };
}
