/**
 * What a VM may be called: it names a directory under $CORRAL_HOME/vms and a control socket, so
 * no slash, no leading dot, and short enough for a Unix socket path. Apart from spec.ts so that
 * the control client (state.ts) can check names without loading the spec's device registry.
 */
export const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
