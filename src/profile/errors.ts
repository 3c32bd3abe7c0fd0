/** The stable codes of `corral run --profile`'s errors (src/errors.ts). */
import { CorralError } from "../errors.js";

export type ProfileErrorCode = "BAD_PROFILE_PATH" | "PROFILE_WRITE_FAILED";

export class ProfileError extends CorralError<ProfileErrorCode> {}
