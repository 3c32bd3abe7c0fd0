/** Security settings of an OCI process: capabilities (seccomp lives in ../seccomp). */
export * from "./capabilities.js";
export * from "./capset.js";
