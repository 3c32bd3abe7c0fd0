/**
 * One VM spec: everything a VM is (Firecracker's VmResources). The CLI, the API, the VM process
 * and the bench all build this one value, validate it here once, and hand it to the composition
 * step (compose.ts). A detached VM's process receives it as JSON and validates it again. The
 * schema is Zod's, so the REST API to come can publish it as JSON Schema (z.toJSONSchema).
 *
 * Sizes are bytes or a size string (src/size.ts: a bare number there means MiB).
 */
import * as z from "zod/mini";
import { DEVICE_KINDS } from "../devices/registry.js";
import { DeviceTransport, type Transport } from "../devices/kinds/names.js";
import { VM_NAME } from "./name.js";
import { FieldError } from "../errors.js";
import { checkSize, formatMiB } from "../size.js";
import { AGENT_PORT_NAME } from "./agent/protocol.js";
import { IMAGE_NAME } from "../image/name.js";

// Zod compiles a schema to a function (new Function) on its first parse, which pays off over many
// parses; Corral parses a spec once per process, so the interpreter is cheaper (about 5 ms).
z.config({ jitless: true });

export const MIN_CPUS = 1;
export const MAX_CPUS = 8;
/** Largest guest RAM: one ArrayBuffer, below the 4 GiB a typed array can index here. */
export const MAX_MEMORY = 4 * 2 ** 30 - 2 ** 20;
export const MIN_MEMORY = 16 * 2 ** 20;
export const DEFAULT_MEMORY = 512 * 2 ** 20;
/** QEMU virt has eight virtio-mmio slots, on PLIC sources 1..8. */
export const VIRTIO_SLOTS = 8;

/**
 * Which device is the guest's console: the NS16550A UART (Linux's ttyS0) or port 0 of the first
 * virtio-console (hvc0, virtio 1.2 section 5.3). The other stays on the board either way.
 */
export const GUEST_CONSOLES = ["ttyS0", "hvc0"] as const;
export type GuestConsole = (typeof GUEST_CONSOLES)[number];

/**
 * The board's interrupt controllers, as QEMU virt offers them: the PLIC (default), or the
 * Advanced Interrupt Architecture (aia=aplic-imsic: an APLIC in MSI mode and an IMSIC per hart).
 */
export const IRQCHIPS = ["plic", "aia"] as const;

export { TRANSPORTS, type Transport } from "../devices/kinds/names.js";
/** Devices on the PCI bus: device numbers 1..31 (0 is the host bridge). */
export const PCI_SLOTS = 31;

const [firstKind, ...moreKinds] = Object.values(DEVICE_KINDS).map((k) => k.schema);
/** One entry of `devices`: which kind (src/devices/registry.ts) and its options. */
export const DeviceSpecSchema = z.discriminatedUnion("kind", [firstKind!, ...moreKinds], {
  error: (iss) =>
    iss.code === "invalid_union"
      ? `'${String(kindOf(iss.input))}' is not a device kind: use one of ${Object.keys(DEVICE_KINDS).join(", ")}`
      : undefined,
});
export type DeviceSpec = z.output<typeof DeviceSpecSchema>;

function kindOf(v: unknown): unknown {
  return typeof v === "object" && v !== null && "kind" in v ? v.kind : undefined;
}

/**
 * The devices every VM gets unless its spec lists its own, after its disks and NICs: the
 * virtio-console whose named port carries the guest agent (`corral exec`, the API), the balloon
 * (`corral vm memory`) and virtio-rng. They take three of the board's eight virtio slots.
 */
export const STANDARD_DEVICES: readonly DeviceSpec[] = [
  { kind: "console", ports: [AGENT_PORT_NAME] },
  { kind: "balloon" },
  { kind: "rng" },
];

const Memory = z.pipe(
  z.union([z.int(), z.string()], { error: "must be a size in bytes or a string such as 512M" }),
  z.transform((v, ctx) => {
    const r = checkSize(v);
    if ("problem" in r)
      ctx.issues.push({
        code: "custom",
        input: v,
        message: `'${String(v)}' ${r.problem}`,
        params: { code: "BAD_SIZE" },
      });
    else if (r.bytes < MIN_MEMORY)
      ctx.issues.push({
        code: "custom",
        input: v,
        message: `must be at least ${formatMiB(MIN_MEMORY)} (got ${formatMiB(r.bytes)})`,
        params: { code: "MEMORY_TOO_SMALL" },
      });
    else if (r.bytes % 4096 !== 0)
      ctx.issues.push({
        code: "custom",
        input: v,
        message: "must be a multiple of 4K",
        params: { code: "MEMORY_ALIGN" },
      });
    return "bytes" in r ? r.bytes : 0;
  }),
);

const hartsError = (iss: { input?: unknown }): string =>
  `must be a whole number from ${MIN_CPUS} to ${MAX_CPUS} (got ${String(iss.input)})`;

const Path = z.string().check(z.minLength(1, { error: "must be a file path" }));

export const VmSpecSchema = z
  .strictObject({
    /** Unique among running VMs (default: a random "vm-xxxxxxxx"). */
    name: z.optional(
      z.string().check(
        z.regex(VM_NAME, {
          error: (iss) =>
            `'${String(iss.input)}' is not valid: use letters, digits, '_', '.', '-' (at most 63, starting with a letter or digit)`,
        }),
      ),
    ),
    harts: z._default(
      z
        .int({ error: hartsError })
        .check(z.minimum(MIN_CPUS, { error: hartsError }), z.maximum(MAX_CPUS, { error: hartsError })),
      1,
    ),
    /** Guest RAM: bytes, or a size such as "512M". */
    memory: z._default(Memory, DEFAULT_MEMORY),
    /**
     * Offer guest RAM to the host kernel's same-page merging (KSM, src/vm/madvise.ts shareRam).
     * Absent: the host's default (CORRAL_SHARE_MEMORY, shareMemoryDefault). Off unless asked:
     * merged pages are a timing side channel between VMs (README, "Shared pages").
     */
    shareMemory: z.optional(z.boolean({ error: "must be true or false" })),
    boot: z._default(
      z.strictObject({
        /** A RISC-V Linux Image or vmlinux ELF (default: the default guest's). */
        kernel: z.optional(Path),
        /** An initramfs (default: the default guest's when no kernel is given). */
        initrd: z.optional(Path),
        /** The kernel command line (default: the default guest's, with console= for `console`). */
        cmdline: z.optional(z.string()),
        /** M-mode firmware (OpenSBI fw_dynamic) that boots the kernel, or without one a bare-metal ELF. */
        firmware: z.optional(Path),
      }),
      {},
    ),
    console: z._default(
      z.enum(GUEST_CONSOLES, {
        error: (iss) => `must be one of ${GUEST_CONSOLES.join(", ")} (got '${String(iss.input)}')`,
      }),
      "ttyS0",
    ),
    irqchip: z._default(
      z.enum(IRQCHIPS, {
        error: (iss) => `must be one of ${IRQCHIPS.join(", ")} (got '${String(iss.input)}')`,
      }),
      "plic",
    ),
    /**
     * A root disk from the image cache by name (`corral image build --output NAME`): attached
     * first, as /dev/vda, and booted (root=/dev/vda) with the default kernel and initramfs.
     */
    image: z.optional(
      z.string().check(
        z.regex(IMAGE_NAME, {
          error: (iss) =>
            `'${String(iss.input)}' is not an image name: use letters, digits, '_', '-' ('corral image ls')`,
        }),
      ),
    ),
    /** The transport of every device that names none (absent: mmio). */
    transport: z.optional(DeviceTransport),
    /** The VM's virtio devices in board order (default: STANDARD_DEVICES). */
    devices: z._default(z.array(DeviceSpecSchema), () => [...STANDARD_DEVICES]),
  })
  .check((ctx) => {
    const v = ctx.value;
    const vmT = v.transport ?? "mmio";
    const on = (t: Transport): number =>
      v.devices.filter((d) => (d.transport ?? vmT) === t).length + (v.image !== undefined && vmT === t ? 1 : 0);
    for (const [t, most, where] of [
      ["mmio", VIRTIO_SLOTS, "virtio-mmio slots of the board"],
      ["pci", PCI_SLOTS, "PCI bus"],
    ] as const) {
      const n = on(t);
      if (n > most)
        ctx.issues.push({
          code: "custom",
          input: v.devices,
          path: ["devices"],
          message: `puts ${n} devices${v.image !== undefined && vmT === t ? " (with the image's disk)" : ""} on the ${where}, but at most ${most} fit: move some to ${t === "mmio" ? "transport pci" : "transport mmio"}`,
          params: { code: "TOO_MANY_DEVICES" },
        });
    }
    const seen = new Map<string, number>();
    const count = new Map<string, number>();
    for (const [i, d] of ctx.value.devices.entries()) {
      const n = count.get(d.kind) ?? 0;
      count.set(d.kind, n + 1);
      const name = d.name ?? DEVICE_KINDS[d.kind].defaultName(n);
      const first = seen.get(name);
      if (first !== undefined) {
        ctx.issues.push({
          code: "custom",
          input: d,
          path: ["devices", i, "name"],
          message: `'${name}' is already the name of devices[${first}]: give each device its own name`,
          params: { code: "DUPLICATE_DEVICE" },
        });
      }
      seen.set(name, i);
    }
    const tags = new Map<string, number>();
    for (const [i, d] of ctx.value.devices.entries()) {
      if (d.kind !== "fs") continue;
      const first = tags.get(d.tag);
      if (first !== undefined)
        ctx.issues.push({
          code: "custom",
          input: d,
          path: ["devices", i, "tag"],
          message: `'${d.tag}' is already the tag of devices[${first}]: give each share its own tag`,
          params: { code: "DUPLICATE_SHARE_TAG" },
        });
      tags.set(d.tag, i);
    }
  });

/** What callers write (sizes as strings, defaults left out). */
export type VmSpecInput = z.input<typeof VmSpecSchema>;
/** A validated spec: every default filled in, memory in bytes. */
export type VmSpec = z.output<typeof VmSpecSchema>;

/** Every way a spec can be refused (src/errors.ts). */
export type SpecErrorCode =
  | "BAD_VM_NAME"
  | "BAD_CPUS"
  | "BAD_SIZE"
  | "MEMORY_TOO_SMALL"
  | "MEMORY_ALIGN"
  | "BAD_SHARE_MEMORY"
  | "BAD_CONSOLE"
  | "BAD_IRQCHIP"
  | "BAD_IMAGE"
  | "BAD_BOOT"
  | "BAD_DEVICE"
  | "BAD_TRANSPORT"
  | "UNKNOWN_DEVICE"
  | "DUPLICATE_DEVICE"
  | "DUPLICATE_SHARE_TAG"
  | "TOO_MANY_DEVICES"
  | "BAD_SPEC";

/** The stable code of each field's failures, unless the issue names its own. */
const FIELD_CODES: Record<string, SpecErrorCode> = {
  name: "BAD_VM_NAME",
  harts: "BAD_CPUS",
  memory: "BAD_SIZE",
  shareMemory: "BAD_SHARE_MEMORY",
  console: "BAD_CONSOLE",
  irqchip: "BAD_IRQCHIP",
  image: "BAD_IMAGE",
  boot: "BAD_BOOT",
  devices: "BAD_DEVICE",
  transport: "BAD_TRANSPORT",
};
const TOO_MANY: SpecErrorCode = "TOO_MANY_DEVICES";

/** `input` validated into a VmSpec, or a FieldError<SpecErrorCode> (exit status 2) for its first problem. */
export function parseVmSpec(input: unknown): VmSpec {
  const r = VmSpecSchema.safeParse(input);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const field = iss.path.reduce<string>(
    (p, k) => (typeof k === "number" ? `${p}[${k}]` : p ? `${p}.${String(k)}` : String(k)),
    "",
  );
  const own = iss.code === "custom" ? (iss.params as { code?: SpecErrorCode } | undefined)?.code : undefined;
  const head = String(iss.path[0] ?? "");
  const unknownKind =
    iss.code === "invalid_union" && head === "devices" && iss.path.length === 3 && iss.path[2] === "kind";
  const code =
    own ??
    (iss.code === "too_big" && field === "devices"
      ? TOO_MANY
      : unknownKind
        ? "UNKNOWN_DEVICE"
        : iss.code === "unrecognized_keys"
          ? "BAD_SPEC"
          : (FIELD_CODES[head] ?? "BAD_SPEC"));
  const message =
    iss.code === "unrecognized_keys"
      ? `has no field ${iss.keys.map((k) => `'${k}'`).join(", ")}`
      : iss.code === "invalid_type" && iss.message.startsWith("Invalid input")
        ? iss.input === undefined
          ? "is required"
          : `must be a ${iss.expected}`
        : iss.message;
  return fail(code, field || "spec", message);
}

function fail(code: SpecErrorCode, field: string, message: string): never {
  throw new FieldError<SpecErrorCode>(code, field, (name) => `${name} ${message}`, { exitCode: 2 });
}

/** The JSON Schema of what a client may send (sizes as strings or bytes, defaults optional). */
export function vmSpecJsonSchema(): z.core.JSONSchema.BaseSchema {
  return z.toJSONSchema(VmSpecSchema, { io: "input" });
}
