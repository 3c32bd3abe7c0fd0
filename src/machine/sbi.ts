/**
 * The SBI (RISC-V Supervisor Binary Interface, version 2.0), implemented by the hypervisor itself
 * for direct boot: the guest kernel's ECALLs from S-mode land here instead of in M-mode firmware.
 * This is Corral's paravirtual interface to the guest: timers, IPIs, remote fences, hart start/stop,
 * reset and a debug console, without emulating M-mode at all.
 *
 * Calling convention (SBI spec chapter 3): a7 = extension id, a6 = function id, a0..a5 arguments;
 * returns error in a0 and value in a1. Legacy extensions (chapter 5) return in a0 only.
 */
import { TWO32 } from "../cpu/isa/int64.js";
import { MIP_SSIP, PRIV_S } from "../cpu/isa/defs.js";
import { HartState, type Hart } from "../cpu/hart/hart.js";

export const SBI_SPEC_VERSION = (2 << 24) | 0; // 2.0
/** Implementation id: not one of the registered ones (SBI spec table 3). */
export const SBI_IMPL_ID = 0x436f7272; // "Corr"

export const enum SbiErr {
  Success = 0,
  Failed = -1,
  NotSupported = -2,
  InvalidParam = -3,
  Denied = -4,
  InvalidAddress = -5,
  AlreadyAvailable = -6,
  AlreadyStarted = -7,
  AlreadyStopped = -8,
}

export const enum Ext {
  LegacySetTimer = 0x00,
  LegacyPutchar = 0x01,
  LegacyGetchar = 0x02,
  LegacyClearIpi = 0x03,
  LegacyShutdown = 0x08,
  Base = 0x10,
  Time = 0x54494d45,
  Ipi = 0x735049,
  Rfence = 0x52464e43,
  Hsm = 0x48534d,
  Srst = 0x53525354,
  Dbcn = 0x4442434e,
}

const IMPLEMENTED = new Set<number>([Ext.Base, Ext.Time, Ext.Ipi, Ext.Rfence, Ext.Hsm, Ext.Srst, Ext.Dbcn]);

/** What the SBI needs from the machine. */
export interface SbiHost {
  readonly harts: readonly Hart[];
  now(): number;
  /** Guest RAM bytes at a physical address, or undefined when outside RAM. */
  ramSlice(pa: number, len: number): Uint8Array | undefined;
  consoleWrite(bytes: Uint8Array): void;
  /** One byte of console input, or -1. */
  consoleRead(): number;
  /** SRST: power off (code 0, or 1 for a system failure) or reset. */
  systemReset(kind: "poweroff" | "reset", code: number): void;
  /** A hart became runnable (HSM start). */
  wake(h: Hart): void;
  /**
   * Set when each hart runs on a thread of its own (machine/threads/): the calls that act on
   * other harts go through it, and `harts` holds only the calling hart's thread's view.
   */
  readonly remote?: SbiRemote;
}

/** What the SBI does to other harts when they run on threads of their own (threads/remote.ts). */
export interface SbiRemote {
  readonly count: number;
  /** Set SSIP on hart `i` and wake it. */
  ipi(i: number): void;
  /** RFENCE function `fid` on hart `i`, done when this returns (SBI spec 8: the call is synchronous). */
  fence(i: number, fid: number): void;
  /** HSM hart_start of a stopped hart `i`: false when it is not stopped. */
  start(i: number, pc: number, opaqueLo: number, opaqueHi: number): boolean;
  state(i: number): HartState;
}

const A0 = 20;
const A1 = 22;

function argU(h: Hart, i: number): number {
  return (h.x[A0 + 2 * i + 1]! >>> 0) * TWO32 + (h.x[A0 + 2 * i]! >>> 0);
}
function argLo(h: Hart, i: number): number {
  return h.x[A0 + 2 * i]!;
}
/** Argument `i` as a signed 64-bit value (a virtual address: canonical, sign-extended). */
function argS(h: Hart, i: number): number {
  return h.x[A0 + 2 * i + 1]! * TWO32 + (h.x[A0 + 2 * i]! >>> 0);
}
/** Beyond this many bytes an RFENCE drops the whole address space rather than page by page (as Linux does). */
const RFENCE_PAGES_MAX = 64 * 4096;
/**
 * remote_sfence_vma[_asid] (SBI 2.0 chapter 8: start_addr, size, and the ASID or null) as the
 * SFENCE.VMA instructions it stands for (Hart.sfence): start 0 and size 0, or size 2^64 - 1,
 * mean everything.
 */
function rfence(t: Hart, start: number, size: number, asid: number | null): void {
  if ((start === 0 && size === 0) || size > RFENCE_PAGES_MAX) return t.sfence(null, asid);
  for (let off = 0; off < size + (start & 0xfff); off += 4096) t.sfence(start + off, asid);
}
function ret(h: Hart, err: number, value = 0): void {
  h.x[A0] = err;
  h.x[A0 + 1] = err < 0 ? -1 : 0;
  h.x[A1] = value | 0;
  h.x[A1 + 1] = Math.floor(value / TWO32) | 0;
}

export class Sbi {
  constructor(private readonly host: SbiHost) {}

  /** Handle the ECALL the hart just made from S-mode (its pc is advanced by the caller). */
  call(h: Hart): void {
    const eid = h.x[2 * 17]! >>> 0; // a7
    const fid = h.x[2 * 16]! >>> 0; // a6
    switch (eid) {
      case Ext.LegacySetTimer:
        this.setTimer(h, argU(h, 0));
        h.x[A0] = 0;
        h.x[A0 + 1] = 0;
        return;
      case Ext.LegacyPutchar:
        this.host.consoleWrite(Uint8Array.of(argLo(h, 0) & 0xff));
        h.x[A0] = 0;
        h.x[A0 + 1] = 0;
        return;
      case Ext.LegacyGetchar: {
        const c = this.host.consoleRead();
        h.x[A0] = c;
        h.x[A0 + 1] = c < 0 ? -1 : 0;
        return;
      }
      case Ext.LegacyClearIpi:
        h.writeMipSw(MIP_SSIP, 0);
        h.x[A0] = 0;
        h.x[A0 + 1] = 0;
        return;
      case Ext.LegacyShutdown:
        this.host.systemReset("poweroff", 0);
        return;
      case Ext.Base:
        return this.base(h, fid);
      case Ext.Time:
        if (fid !== 0) return ret(h, SbiErr.NotSupported);
        this.setTimer(h, argU(h, 0));
        return ret(h, SbiErr.Success);
      case Ext.Ipi:
        if (fid !== 0) return ret(h, SbiErr.NotSupported);
        return this.forHarts(h, (i) => {
          const remote = this.host.remote;
          if (remote) return remote.ipi(i);
          const t = this.host.harts[i]!;
          t.writeMipSw(MIP_SSIP, MIP_SSIP);
          t.irqCheck = true;
          t.wake();
        });
      case Ext.Rfence:
        // 0: FENCE.I (stores already invalidate decoded code), 1: SFENCE.VMA over a range, 2: the
        // same for one ASID (a4). Harts on threads of their own flush everything, which is always
        // correct. Hypervisor fences (3..6) are not implemented.
        if (fid > 2) return ret(h, SbiErr.NotSupported);
        return this.forHarts(h, (i) => {
          const remote = this.host.remote;
          if (remote) return remote.fence(i, fid);
          if (fid !== 0) rfence(this.host.harts[i]!, argS(h, 2), argU(h, 3), fid === 2 ? argLo(h, 4) : null);
        });
      case Ext.Hsm:
        return this.hsm(h, fid);
      case Ext.Srst:
        return this.srst(h, fid);
      case Ext.Dbcn:
        return this.dbcn(h, fid);
      default:
        return ret(h, SbiErr.NotSupported);
    }
  }

  private setTimer(h: Hart, when: number): void {
    h.stimecmp = when;
    h.updateTimer(this.host.now());
  }

  private base(h: Hart, fid: number): void {
    switch (fid) {
      case 0:
        return ret(h, 0, SBI_SPEC_VERSION);
      case 1:
        return ret(h, 0, SBI_IMPL_ID);
      case 2:
        return ret(h, 0, 1);
      case 3:
        return ret(h, 0, IMPLEMENTED.has(argU(h, 0)) || argU(h, 0) <= 3 || argU(h, 0) === 8 ? 1 : 0);
      case 4:
      case 5:
      case 6:
        return ret(h, 0, 0); // mvendorid, marchid, mimpid
      default:
        return ret(h, SbiErr.NotSupported);
    }
  }

  /** Apply `f` to the harts named by (hart_mask, hart_mask_base) in a0, a1 (SBI spec 3.1). */
  private forHarts(h: Hart, f: (i: number) => void): void {
    const count = this.host.remote?.count ?? this.host.harts.length;
    const maskLo = h.x[A0]! >>> 0;
    const maskHi = h.x[A0 + 1]! >>> 0;
    const baseAll = h.x[A1] === -1 && h.x[A1 + 1] === -1;
    if (baseAll) {
      for (let i = 0; i < count; i++) f(i);
      return ret(h, 0);
    }
    const base = argU(h, 1);
    for (let bit = 0; bit < 64; bit++) {
      const set = bit < 32 ? (maskLo >>> bit) & 1 : (maskHi >>> (bit - 32)) & 1;
      if (!set) continue;
      const i = base + bit;
      if (i >= count) return ret(h, SbiErr.InvalidParam);
      f(i);
    }
    return ret(h, 0);
  }

  /** Hart state management (chapter 9). */
  private hsm(h: Hart, fid: number): void {
    const harts = this.host.harts;
    const remote = this.host.remote;
    switch (fid) {
      case 0: {
        // hart_start(hartid, start_addr, opaque): the hart begins in S-mode, satp = 0, SIE = 0.
        if (remote) {
          const i = argU(h, 0);
          if (i >= remote.count) return ret(h, SbiErr.InvalidParam);
          return ret(h, remote.start(i, argU(h, 1), h.x[A0 + 4]!, h.x[A0 + 5]!) ? 0 : SbiErr.AlreadyAvailable);
        }
        const t = harts[argU(h, 0)];
        if (!t) return ret(h, SbiErr.InvalidParam);
        if (t.state !== HartState.Stopped) return ret(h, SbiErr.AlreadyAvailable);
        const start = argU(h, 1);
        t.reset(start);
        t.mideleg = h.mideleg;
        t.medeleg = h.medeleg;
        t.mcounteren = h.mcounteren;
        t.scratch.set(h.scratch.subarray(4, 6), 4); // menvcfg (Sstc enable)
        t.openPmp();
        t.setPriv(PRIV_S);
        t.x[A0] = t.hartId;
        t.x[A1] = h.x[A0 + 4]!;
        t.x[A1 + 1] = h.x[A0 + 5]!;
        t.state = HartState.Started;
        this.host.wake(t);
        return ret(h, 0);
      }
      case 1:
        // hart_stop: never returns to the caller on success.
        h.state = HartState.Stopped;
        h.irqCheck = true;
        return ret(h, 0);
      case 2: {
        const i = argU(h, 0);
        if (i >= (remote?.count ?? harts.length)) return ret(h, SbiErr.InvalidParam);
        const st = remote ? remote.state(i) : harts[i]!.state;
        return ret(h, 0, st === HartState.Started ? 0 : st === HartState.Stopped ? 1 : 2);
      }
      case 3:
        // hart_suspend: default retentive suspend behaves as WFI; non-retentive is not offered
        // (the device tree lists no idle states, so Linux does not ask for it).
        if (argU(h, 0) !== 0) return ret(h, SbiErr.NotSupported);
        if ((h.mip & h.mie) === 0) {
          h.sleeping = true;
          h.irqCheck = true;
        }
        return ret(h, 0);
      default:
        return ret(h, SbiErr.NotSupported);
    }
  }

  /** System reset (chapter 10): shutdown, cold or warm reboot; reason 1 is a system failure. */
  private srst(h: Hart, fid: number): void {
    if (fid !== 0) return ret(h, SbiErr.NotSupported);
    const type = argU(h, 0);
    const reason = argU(h, 1);
    if (type === 0) this.host.systemReset("poweroff", reason === 1 ? 1 : 0);
    else if (type === 1 || type === 2) this.host.systemReset("reset", 0);
    else return ret(h, SbiErr.InvalidParam);
    return ret(h, 0);
  }

  /** Debug console (chapter 12): writes and reads guest-physical buffers. */
  private dbcn(h: Hart, fid: number): void {
    if (fid === 2) {
      this.host.consoleWrite(Uint8Array.of(argLo(h, 0) & 0xff));
      return ret(h, 0);
    }
    if (fid > 1) return ret(h, SbiErr.NotSupported);
    const len = argU(h, 0);
    const pa = argU(h, 2) * TWO32 + argU(h, 1);
    const buf = this.host.ramSlice(pa, len);
    if (!buf) return ret(h, SbiErr.InvalidParam);
    if (fid === 0) {
      this.host.consoleWrite(buf.slice());
      return ret(h, 0, len);
    }
    let n = 0;
    while (n < len) {
      const c = this.host.consoleRead();
      if (c < 0) break;
      buf[n++] = c;
    }
    return ret(h, 0, n);
  }
}
