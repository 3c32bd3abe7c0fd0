import * as z from "zod/mini";

/** A device's name: what logs and error messages call it, unique within a VM. */
export const DeviceName = z.string().check(
  z.regex(/^[a-z][a-z0-9_-]{0,31}$/, {
    error: "must be 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter",
  }),
);
