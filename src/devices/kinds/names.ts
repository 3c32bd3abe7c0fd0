import * as z from "zod/mini";

/** A device's name: what logs and error messages call it, unique within a VM. */
export const DeviceName = z.string().check(
  z.regex(/^[a-z][a-z0-9_-]{0,31}$/, {
    error: "must be 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter",
  }),
);

/**
 * How a virtio device reaches the guest: virtio-mmio (virtio 1.2 §4.2, the board's eight slots)
 * or virtio-pci (§4.1, functions behind the PCIe host bridge). The device is the same either way;
 * every kind's entry may name its own, else the VM spec's `transport` holds.
 */
export const TRANSPORTS = ["mmio", "pci"] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const DeviceTransport = z.enum(TRANSPORTS, {
  error: (iss) => `must be one of ${TRANSPORTS.join(", ")} (got '${String(iss.input)}')`,
});
