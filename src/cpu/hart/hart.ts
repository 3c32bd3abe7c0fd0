import type { InterruptTarget } from "../../devices/device.js";
import type { HartImsic } from "../../devices/imsic.js";
import type { Clock } from "../../machine/clock.js";
import type { GuestRam } from "../../machine/memory.js";
import {
  Exc,
  IRQ_PRIORITY,
  MENVCFG_HI_STCE,
  MIP_STIP,
  MS_MIE,
  MS_MPIE,
  MS_MPP,
  MS_MPP_SHIFT,
  MS_MPRV,
  MS_SIE,
  MS_SPIE,
  MS_SPP,
  MS_SUM,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  SATP_BARE,
} from "../isa/defs.js";
import type { FpuHart } from "../fpu/index.js";
import { Access, translate } from "./mmu.js";
import { Pmp, PMP_R, PMP_W, PMP_X } from "./pmp.js";
import { T_EXEC, T_LOAD, T_STORE, Triggers } from "./trigger.js";
import { ASID_MASK, CTX_M, CTX_S, CTX_S_SUM, CTX_U, TLB_MASK, Tlb, type TlbContext } from "./tlb.js";
import { HartArea } from "../wasm/layout.js";
import { arr, bool, fill, num, nums, obj, type SavedState, type Snapshottable } from "../../snapshot/state.js";

/** Physical accesses outside RAM. `read` returns undefined and `write` false where nothing is mapped. */
export interface PhysBus {
  read(pa: number, size: 1 | 2 | 4): number | undefined;
  write(pa: number, size: 1 | 2 | 4, value: number): boolean;
}

/** What a hart is attached to. Shared by all harts of a machine. */
export interface HartHost {
  readonly ram: GuestRam;
  readonly bus: PhysBus;
  readonly clock: Clock;
  /**
   * Called when a RAM page that holds decoded code is written through the CPU's slow path:
   * `size` bytes at offset `inPage` of page `ramPage` (engine/code-writes.ts).
   */
  codeWritten(ramPage: number, inPage: number, size: number): void;
  /** Direct boot: the hypervisor is the SBI (ecall from S lands here). Null when firmware runs in M-mode. */
  readonly sbi: ((h: Hart) => void) | null;
  /** A hart left WFI or was started: the scheduler should run it again soon. */
  wake(h: Hart): void;
}

/** Thrown (never constructed anew) to unwind an instruction that traps; cause and tval are on the hart. */
export const TRAP: { readonly trap: true } = Object.freeze({ trap: true });

/** HSM hart states (SBI spec, chapter 9, table 30). */
export const enum HartState {
  Started = 0,
  Stopped = 1,
  StartPending = 2,
}

/**
 * One RISC-V hart: architectural state plus the memory-access fast paths that decoded
 * instructions call. Integer registers are pairs of int32 (x[2r] low, x[2r+1] high) because V8 runs
 * 32-bit integer arithmetic without allocation; slot 32 (x[64], x[65]) is a scratch target that the
 * decoder uses for rd = x0, so no instruction needs an `rd !== 0` test.
 *
 * Virtual addresses (pc, load/store addresses, epc, tval) are JS numbers holding the signed 64-bit
 * value: every canonical Sv39/Sv48 address is below 2^48 in magnitude, so it is exact.
 */
export class Hart implements InterruptTarget, FpuHart, Snapshottable {
  readonly x: Int32Array;
  /** The f registers and fcsr's fields, in the hart's area: the wasm tier reads and writes them. */
  readonly f: Int32Array;
  get fflags(): number {
    return this.slots[HartArea.fflags >>> 2]!;
  }
  set fflags(v: number) {
    this.slots[HartArea.fflags >>> 2] = v;
  }
  get frm(): number {
    return this.slots[HartArea.frm >>> 2]!;
  }
  set frm(v: number) {
    this.slots[HartArea.frm >>> 2] = v;
  }
  pc = 0;
  /** The privilege level, in the hart's area (compiled code reads it: wasm/emit.ts sstatus). */
  get priv(): number {
    return this.slots[HartArea.priv >>> 2]!;
  }
  set priv(p: number) {
    this.slots[HartArea.priv >>> 2] = p;
  }
  /** The HSM state, in the hart's area (other harts' SBI calls read it: threads/). */
  get state(): HartState {
    return this.slots[HartArea.hsm >>> 2]! as HartState;
  }
  set state(s: HartState) {
    Atomics.store(this.slots, HartArea.hsm >>> 2, s);
  }
  /** In WFI (or HSM suspend) until an enabled interrupt is pending. */
  sleeping = false;

  // Trap and interrupt state (privileged spec chapter 3 and 4).
  /**
   * mstatus bits 31:0, in the hart's area, where compiled code sets and clears SIE; bits 63:32
   * are fixed (csr.ts MSTATUS_HI_XL) and SD is computed.
   */
  get mstatus(): number {
    return this.slots[HartArea.mstatus >>> 2]!;
  }
  set mstatus(v: number) {
    this.slots[HartArea.mstatus >>> 2] = v;
  }
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /**
   * mip bits driven by devices and timers (MSIP, MTIP, MEIP, external SEIP, Sstc STIP), in the
   * hart's area: with harts on threads (machine/threads/) devices set them from another thread.
   */
  get mipExt(): number {
    return this.slots[HartArea.mipExt >>> 2]!;
  }
  set mipExt(v: number) {
    Atomics.store(this.slots, HartArea.mipExt >>> 2, v);
  }
  /** mip bits written by software (SSIP, STIP, SEIP); another hart's SBI IPI sets SSIP. */
  get mipSw(): number {
    return this.slots[HartArea.mipSw >>> 2]!;
  }
  set mipSw(v: number) {
    Atomics.store(this.slots, HartArea.mipSw >>> 2, v);
  }
  /**
   * Replace the software-written mip bits under `mask` with `bits`: clear, then set, each atomic,
   * so an IPI that sets SSIP from another thread meanwhile is never lost (it lands before or after).
   */
  writeMipSw(mask: number, bits: number): void {
    Atomics.and(this.slots, HartArea.mipSw >>> 2, ~mask | bits);
    Atomics.or(this.slots, HartArea.mipSw >>> 2, bits & mask);
  }
  /**
   * Set when another thread drives this hart's interrupts (machine/threads/): wake() rings the
   * hart's doorbell there instead of the local scheduler.
   */
  remoteWake: (() => void) | null = null;
  /** The run loop must hand back to its caller at the next block (PAUSE; FENCE.I on a threaded hart). */
  yieldNow = false;
  mtvec = 0;
  stvec = 0;
  mepc = 0;
  sepc = 0;
  mtval = 0;
  stval = 0;
  /** mcause/scause: code plus interrupt flag. */
  mcause = 0;
  mcauseInt = false;
  scause = 0;
  scauseInt = false;
  /** mscratch, sscratch, menvcfg, senvcfg, mseccfg exactly, as pairs. */
  readonly scratch = new Int32Array(10);
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  stimecmp = Number.MAX_VALUE;
  /** Physical memory protection (pmp.ts): checked only in the slow paths, before a TLB fill. */
  readonly pmp = new Pmp();
  /** The debug trigger module (trigger.ts): checked only in the slow paths while armed. */
  readonly trig = new Triggers();
  /**
   * The hart's IMSIC interrupt files and *iselect registers on a board with the AIA
   * (--irqchip aia): the Smaia/Ssaia CSRs exist only then (csr-aia.ts).
   */
  aia: HartImsic | null = null;
  satpMode = SATP_BARE;
  /** satp.PPN * 4096: the root page table. */
  satpRoot = 0;
  /** satp.ASID (4.1.11): which of the TLB's banks is in force (tlb.ts). */
  satpAsid = 0;
  /** Whether the last page walk (mmu.ts translate) found a global mapping (PTE.G, 4.3.1). */
  walkGlobal = false;
  instret = 0;
  cycleOffset = 0;
  instretOffset = 0;

  /** Set whenever anything that decides interrupt delivery changed; the run loop re-evaluates. */
  irqCheck = false;
  /** LR reservation: RAM byte offset, or -1. In the hart's area, where compiled LR/SC keep it. */
  get reservation(): number {
    return this.slots[HartArea.reservation >>> 2]!;
  }
  set reservation(off: number) {
    this.slots[HartArea.reservation >>> 2] = off;
  }

  /** Cause and tval of the trap being raised (read by the run loop after catching TRAP). */
  trapCause = 0;
  trapTval = 0;
  /**
   * An ECALL's trap, raised without a throw (isa/ops-sys.ts ecall): trapCause holds it, the pc is
   * the ECALL's, and the run loop takes it at its next look at irqCheck (engine/exec.ts runHart).
   */
  trapPending = false;
  /** High word of the last 64-bit load. */
  hiOut = 0;
  /**
   * Where compiled code trapped (jit.ts): the op index within its block, that block's op offsets,
   * and the instructions the compiled code retired before that block.
   */
  faultIndex = 0;
  faultOffs: Int32Array = new Int32Array(1);
  faultDone = 0;

  /**
   * This hart's area in the machine's wasm memory (wasm/layout.ts), or -1 without one: the
   * registers and TLBs are then arrays of their own and the wasm tier is off.
   */
  readonly area: number;
  /** The area as int32s (slots such as HartArea.stop); an array of its own without an area. */
  readonly slots: Int32Array;

  /** The TLB (tlb.ts): its `ctx` are the contexts of the current address space, by context index. */
  readonly tlb: Tlb;
  readonly ctx: TlbContext[];
  // Fast-path views of the current translation contexts.
  rtag: Float64Array;
  radd: Float64Array;
  wtag: Float64Array;
  wadd: Float64Array;
  xtag: Float64Array;
  xadd: Float64Array;
  readonly view: DataView;
  // Views of guest RAM for naturally aligned accesses (typed-array indexing is cheaper than DataView).
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly i32: Int32Array;
  /** RAM as int64s: the 64-bit atomics of harts on threads (isa/ops-atomic.ts). */
  readonly i64: BigInt64Array;
  readonly ram: GuestRam;

  constructor(
    readonly hartId: number,
    readonly host: HartHost,
  ) {
    const ram = host.ram;
    this.ram = ram;
    this.view = ram.view;
    this.u8 = ram.u8;
    this.i8 = new Int8Array(ram.buffer, ram.byteOffset, ram.size);
    this.i32 = new Int32Array(ram.buffer, ram.byteOffset, ram.size >>> 2);
    this.i64 = new BigInt64Array(ram.buffer, ram.byteOffset, ram.size >>> 3);
    const area = ram.allocHartArea();
    this.area = area;
    if (area >= 0) {
      this.x = new Int32Array(ram.buffer, area + HartArea.x, 66);
      this.f = new Int32Array(ram.buffer, area + HartArea.f, 64);
      this.slots = new Int32Array(ram.buffer, area, HartArea.tlb >>> 2);
      this.tlb = new Tlb(ram.buffer, area + HartArea.tlb, ram.shared ? ram.codePages : null);
    } else {
      this.x = new Int32Array(66);
      this.f = new Int32Array(64);
      this.slots = new Int32Array(HartArea.tlb >>> 2);
      this.tlb = new Tlb();
    }
    this.ctx = this.tlb.ctx;
    this.reservation = -1;
    this.priv = PRIV_M;
    this.mstatus = 0;
    this.mipExt = 0;
    this.mipSw = 0;
    this.state = HartState.Started;
    this.fflags = 0;
    this.frm = 0;
    this.f.fill(0);
    const c = this.ctx[CTX_M]!;
    this.rtag = c.r.tag;
    this.radd = c.r.add;
    this.wtag = c.w.tag;
    this.wadd = c.w.add;
    this.xtag = c.x.tag;
    this.xadd = c.x.add;
    this.updateContexts();
  }

  // ---- InterruptTarget ----
  setPending(mask: number, level: boolean): void {
    const i = HartArea.mipExt >>> 2;
    const old = level ? Atomics.or(this.slots, i, mask) : Atomics.and(this.slots, i, ~mask);
    if ((old & mask) !== (level ? mask : 0)) this.irqCheck = true;
    if (level) this.wake();
  }
  wake(): void {
    if (this.remoteWake !== null) return this.remoteWake();
    if (this.sleeping && (this.mip & this.mie) !== 0) {
      this.sleeping = false;
      this.host.wake(this);
    }
  }

  get mip(): number {
    return this.mipExt | this.mipSw;
  }

  /** Raise a synchronous exception: record it and unwind to the run loop. */
  raise(cause: number, tval: number): never {
    this.trapCause = cause;
    this.trapTval = tval;
    throw TRAP;
  }

  /** Take a trap now (exceptions: pc is the faulting instruction; 3.1.6.1, 3.3.1 and 4.1.1). */
  enterTrap(cause: number, tval: number, interrupt: boolean): void {
    if (!interrupt && cause === Exc.EcallS && this.priv === PRIV_S && this.host.sbi) {
      this.host.sbi(this);
      this.pc += 4;
      return;
    }
    const deleg = this.priv <= PRIV_S && ((interrupt ? this.mideleg : this.medeleg) >>> cause) & 1;
    const ms = this.mstatus;
    if (deleg) {
      this.scause = cause;
      this.scauseInt = interrupt;
      this.sepc = this.pc;
      this.stval = tval;
      this.mstatus =
        (ms & ~(MS_SPP | MS_SPIE | MS_SIE)) | (this.priv === PRIV_S ? MS_SPP : 0) | (ms & MS_SIE ? MS_SPIE : 0);
      this.setPriv(PRIV_S);
      const v = this.stvec;
      this.pc = v - (v & 3) + ((v & 3) === 1 && interrupt ? 4 * cause : 0);
    } else {
      this.mcause = cause;
      this.mcauseInt = interrupt;
      this.mepc = this.pc;
      this.mtval = tval;
      this.mstatus = (ms & ~(MS_MPP | MS_MPIE | MS_MIE)) | (this.priv << MS_MPP_SHIFT) | (ms & MS_MIE ? MS_MPIE : 0);
      this.setPriv(PRIV_M);
      const v = this.mtvec;
      this.pc = v - (v & 3) + ((v & 3) === 1 && interrupt ? 4 * cause : 0);
    }
    this.reservation = -1;
  }

  /** Deliver the highest-priority enabled pending interrupt, if any (3.1.9). */
  pollInterrupts(): boolean {
    this.irqCheck = false;
    const pending = this.mip & this.mie;
    if (pending === 0) return false;
    const ms = this.mstatus;
    const mLevel = pending & ~this.mideleg;
    const mOn = this.priv < PRIV_M || (ms & MS_MIE) !== 0;
    const sLevel = pending & this.mideleg;
    const sOn = this.priv < PRIV_S || (this.priv === PRIV_S && (ms & MS_SIE) !== 0);
    const take = (mOn ? mLevel : 0) || (sOn ? sLevel : 0);
    if (take === 0) return false;
    for (const irq of IRQ_PRIORITY) {
      if (take & (1 << irq)) {
        this.sleeping = false;
        this.enterTrap(irq, 0, true);
        return true;
      }
    }
    return false;
  }

  /** Change privilege and the translation contexts that follow from it. */
  setPriv(p: number): void {
    this.priv = p;
    this.updateContexts();
    this.irqCheck = true;
  }

  /** Re-point the fast-path TLB arrays after a change of priv, MPRV, MPP or SUM. */
  updateContexts(): void {
    const ms = this.mstatus;
    const xc = this.ctx[ctxFor(this.priv, ms)]!;
    const dPriv = this.priv === PRIV_M && ms & MS_MPRV ? (ms & MS_MPP) >>> MS_MPP_SHIFT : this.priv;
    const dc = this.ctx[ctxFor(dPriv, ms)]!;
    this.xtag = xc.x.tag;
    this.xadd = xc.x.add;
    this.rtag = dc.r.tag;
    this.radd = dc.r.add;
    this.wtag = dc.w.tag;
    this.wadd = dc.w.add;
    this.slots[HartArea.rtag >>> 2] = dc.r.at;
    this.slots[HartArea.wtag >>> 2] = dc.w.at;
    this.slots[HartArea.xtag >>> 2] = xc.x.at;
  }

  get dataPriv(): number {
    const ms = this.mstatus;
    return this.priv === PRIV_M && ms & MS_MPRV ? (ms & MS_MPP) >>> MS_MPP_SHIFT : this.priv;
  }

  /** Drop every translation (SFENCE.VMA x0, x0; a MODE, MXR, PMP or trigger change). */
  flushTlb(): void {
    this.tlb.flush();
  }
  /**
   * SFENCE.VMA (4.2.1) with rs1 (`va`, or null for x0) and rs2 (`asid`, or null for x0): x0, x0
   * everything; rs1 alone that page in every address space; rs2 alone the non-global
   * translations of that ASID; both that page in that ASID.
   */
  sfence(va: number | null, asid: number | null): void {
    if (va === null) {
      if (asid === null) this.tlb.flush();
      else this.tlb.flushAsid(asid & ASID_MASK);
      return;
    }
    const base = va - (va & 0xfff);
    if (asid === null) this.tlb.flushPage(base);
    else this.tlb.flushPageAsid(base, asid & ASID_MASK);
  }
  /**
   * A satp write (csr.ts): a new MODE drops every translation (Bare to a paged mode and back take
   * effect at once, 4.2.1); otherwise the TLB switches to the ASID's bank without a flush.
   */
  setSatp(mode: number, asid: number, root: number): void {
    const modeChanged = mode !== this.satpMode;
    this.satpMode = mode;
    this.satpAsid = asid;
    this.satpRoot = root;
    if (modeChanged) this.tlb.flush();
    if (this.tlb.select(asid, root)) this.updateContexts();
  }

  /** Sstc (and SBI set_timer): STIP follows time >= stimecmp. */
  updateTimer(now: number): void {
    if (this.scratch[5]! & MENVCFG_HI_STCE || this.host.sbi) this.setPending(MIP_STIP, now >= this.stimecmp);
  }

  // ---- Loads and stores: fast path through the TLB, slow path walks; misaligned accesses are done
  // in hardware. `a` is the virtual address as a number, `lo` its low 32 bits as an int32 (the
  // callers compute it with integer arithmetic): indexing with `lo` avoids converting a large
  // double to an integer, which V8 does out of line. ----
  lb(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off) return this.i8[this.radd[i]! + off]!;
    return (this.loadSlow(a, 1) << 24) >> 24;
  }
  lbu(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off) return this.u8[this.radd[i]! + off]!;
    return this.loadSlow(a, 1) & 0xff;
  }
  lh(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off && off <= 4094) return this.view.getInt16(this.radd[i]! + off, true);
    return (this.loadSlow(a, 2) << 16) >> 16;
  }
  lhu(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off && off <= 4094) return this.view.getUint16(this.radd[i]! + off, true);
    return this.loadSlow(a, 2) & 0xffff;
  }
  lw(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off && off <= 4092) {
      const p = this.radd[i]! + off;
      return (p & 3) === 0 ? this.i32[p >>> 2]! : this.view.getInt32(p, true);
    }
    return this.loadSlow(a, 4);
  }
  /** 64-bit load: returns the low word, the high word in `hiOut`. */
  ld(a: number, lo: number): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.rtag[i] === a - off && off <= 4088) {
      const p = this.radd[i]! + off;
      if ((p & 7) === 0) {
        const w = p >>> 2;
        this.hiOut = this.i32[w + 1]!;
        return this.i32[w]!;
      }
      this.hiOut = this.view.getInt32(p + 4, true);
      return this.view.getInt32(p, true);
    }
    return this.loadSlow(a, 8);
  }

  sb(a: number, lo: number, v: number): void {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.wtag[i] === a - off) this.u8[this.wadd[i]! + off] = v;
    else this.storeSlow(a, 1, v, 0);
  }
  sh(a: number, lo: number, v: number): void {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.wtag[i] === a - off && off <= 4094) this.view.setInt16(this.wadd[i]! + off, v, true);
    else this.storeSlow(a, 2, v, 0);
  }
  sw(a: number, lo: number, v: number): void {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if (this.wtag[i] === a - off && off <= 4092) {
      const p = this.wadd[i]! + off;
      if ((p & 3) === 0) this.i32[p >>> 2] = v;
      else this.view.setInt32(p, v, true);
    } else this.storeSlow(a, 4, v, 0);
  }
  sd(a: number, alo: number, lo: number, hi: number): void {
    const off = alo & 0xfff;
    const i = (alo >>> 12) & TLB_MASK;
    if (this.wtag[i] === a - off && off <= 4088) {
      const p = this.wadd[i]! + off;
      if ((p & 7) === 0) {
        const w = p >>> 2;
        this.i32[w] = lo;
        this.i32[w + 1] = hi;
      } else {
        this.view.setInt32(p, lo, true);
        this.view.setInt32(p + 4, hi, true);
      }
    } else this.storeSlow(a, 8, lo, hi);
  }

  /**
   * Translate for data and check PMP and triggers for the `size` bytes at `a`; return the RAM
   * offset, or -(pa + 1) for a physical address outside RAM.
   */
  private dataRamOffset(a: number, access: Access, size: number): number {
    const priv = this.dataPriv;
    if (this.trig.data && this.trig.fires(access === Access.Write ? T_STORE : T_LOAD, a, size, this.priv))
      this.raise(Exc.Breakpoint, a);
    const pa = translate(this, a, access, priv);
    if (
      (priv !== PRIV_M || this.pmp.locked) &&
      !this.pmp.allows(pa, size, access === Access.Write ? PMP_W : PMP_R, priv)
    )
      this.raise(access === Access.Write ? Exc.StoreAccess : Exc.LoadAccess, a);
    const off = pa - this.ram.base;
    // Outside RAM the physical address is returned encoded as -(pa + 1), for the MMIO path.
    return off >= 0 && off < this.ram.size ? off : -(pa + 1);
  }

  loadSlow(a: number, size: 1 | 2 | 4 | 8): number {
    const inPage = a & 0xfff;
    if (inPage + size > 4096) return this.loadSplit(a, size);
    const r = this.dataRamOffset(a, Access.Read, size);
    if (r >= 0) {
      const base = a - inPage;
      if (this.mayFill(r - inPage, PMP_R)) {
        const c = this.dataCtx();
        this.ctx[c]!.r.fill(base, r - inPage);
        if (this.walkGlobal) this.tlb.global[c]!.r.fill(base, r - inPage);
      }
      const v = this.view;
      if (size === 1) return v.getUint8(r);
      if (size === 2) return v.getUint16(r, true);
      if (size === 4) return v.getInt32(r, true);
      this.hiOut = v.getInt32(r + 4, true);
      return v.getInt32(r, true);
    }
    const pa = -(r + 1);
    // Device registers are accessed naturally aligned; anything else is an access fault.
    if (pa % size !== 0) this.raise(Exc.LoadAccess, a);
    if (size === 8) {
      const lo = this.host.bus.read(pa, 4);
      const hi = this.host.bus.read(pa + 4, 4);
      if (lo === undefined || hi === undefined) this.raise(Exc.LoadAccess, a);
      this.hiOut = hi | 0;
      return lo | 0;
    }
    const v = this.host.bus.read(pa, size);
    if (v === undefined) return this.raise(Exc.LoadAccess, a);
    return size === 4 ? v | 0 : v;
  }

  /** A load that crosses a page boundary: byte by byte, each byte translated. */
  private loadSplit(a: number, size: number): number {
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < size; k++) {
      const b = this.loadSlow(a + k, 1) & 0xff;
      if (k < 4) lo |= b << (8 * k);
      else hi |= b << (8 * (k - 4));
    }
    this.hiOut = hi;
    return size === 2 ? lo & 0xffff : lo;
  }

  storeSlow(a: number, size: 1 | 2 | 4 | 8, lo: number, hi: number): void {
    const inPage = a & 0xfff;
    if (inPage + size > 4096) {
      // Translate both pages before writing anything, so a fault leaves memory unchanged.
      this.dataRamOffset(a, Access.Write, 1);
      this.dataRamOffset(a + size - 1, Access.Write, 1);
      for (let k = 0; k < size; k++) this.storeSlow(a + k, 1, k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4)), 0);
      return;
    }
    const r = this.dataRamOffset(a, Access.Write, size);
    if (r >= 0) {
      const page = r >>> 12;
      if (this.ram.codePages[page]) this.host.codeWritten(page, inPage, size);
      if (this.mayFill(r - inPage, PMP_W)) this.fillWrite(a - inPage, r - inPage);
      const v = this.view;
      if (size === 1) v.setInt8(r, lo);
      else if (size === 2) v.setInt16(r, lo, true);
      else if (size === 4) v.setInt32(r, lo, true);
      else {
        v.setInt32(r, lo, true);
        v.setInt32(r + 4, hi, true);
      }
      return;
    }
    const pa = -(r + 1);
    if (pa % size !== 0) this.raise(Exc.StoreAccess, a);
    const bus = this.host.bus;
    const ok =
      size === 8
        ? bus.write(pa, 4, lo) && bus.write(pa + 4, 4, hi)
        : bus.write(pa, size, size === 4 ? lo : lo & (size === 1 ? 0xff : 0xffff));
    if (!ok) this.raise(Exc.StoreAccess, a);
  }

  /**
   * RAM offset for an LR, SC or AMO at `a` (`lo`: its low word), through the TLB's fast path when
   * it hits, else amoOffset. Small so that V8 inlines it into the atomics' closures, as it inlines
   * `lw`: a call that passes the address (a double) out of line boxes it, and the atomics' calls
   * were most of the garbage a boot made (docs/benchmarks.md). A hit implies what amoOffset
   * checks: RAM, the permission, no armed data trigger (which keeps the data TLBs empty), and for
   * a write no code in the page.
   */
  amoAt(a: number, lo: number, size: 4 | 8, isLr: boolean): number {
    const off = lo & 0xfff;
    const i = (lo >>> 12) & TLB_MASK;
    if ((lo & (size - 1)) === 0) {
      if (isLr) {
        if (this.rtag[i] === a - off) return this.radd[i]! + off;
      } else if (this.wtag[i] === a - off) return this.wadd[i]! + off;
    }
    return this.amoOffset(a, size, isLr);
  }

  /** RAM offset for an AMO/SC (write permission, RAM only, naturally aligned; spec 8.4). */
  amoOffset(a: number, size: 4 | 8, isLr: boolean): number {
    // A load/store address breakpoint comes before a misaligned address (3.1.15).
    if (this.trig.data && this.trig.fires(isLr ? T_LOAD : T_STORE, a, size, this.priv)) this.raise(Exc.Breakpoint, a);
    if (a % size !== 0) this.raise(isLr ? Exc.LoadMisaligned : Exc.StoreMisaligned, a);
    const off = a & 0xfff;
    if (!isLr) {
      const i = (a >>> 12) & TLB_MASK;
      if (this.wtag[i] === a - off) return this.wadd[i]! + off;
    }
    const r = this.dataRamOffset(a, isLr ? Access.Read : Access.Write, size);
    if (r < 0) this.raise(isLr ? Exc.LoadAccess : Exc.StoreAccess, a);
    if (!isLr) {
      const page = r >>> 12;
      if (this.ram.codePages[page]) this.host.codeWritten(page, off, size);
      if (this.mayFill(r - off, PMP_W)) this.fillWrite(a - off, r - off);
    }
    return r;
  }

  /** RAM offset of the instruction at virtual `pc` (fetch: priv, not MPRV). */
  fetchOffset(pc: number): number {
    const off = pc & 0xfff;
    const i = (pc >>> 12) & TLB_MASK;
    if (this.xtag[i] === pc - off) return this.xadd[i]! + off;
    const priv = this.priv;
    // An instruction address breakpoint comes before every other fetch exception (3.1.15).
    if (this.trig.exec && this.trig.fires(T_EXEC, pc, 1, priv)) this.raise(Exc.Breakpoint, pc);
    const pa = translate(this, pc, Access.Exec, priv);
    const r = pa - this.ram.base;
    if (r < 0 || r >= this.ram.size) this.raise(Exc.InstAccess, pc);
    if (priv !== PRIV_M || this.pmp.locked) {
      // The parcel at pc, and the second one of a 32-bit instruction when it is in this page.
      const size = (this.u8[r]! & 3) === 3 && off <= 4092 ? 4 : 2;
      if (!this.pmp.allows(pa, size, PMP_X, priv)) this.raise(Exc.InstAccess, pc);
      if (!this.pmp.allowsPage(pa - off, PMP_X, priv)) return r;
    }
    if (!this.trig.exec) {
      const c = ctxFor(priv, this.mstatus);
      this.ctx[c]!.x.fill(pc - off, r - off);
      if (this.walkGlobal) this.tlb.global[c]!.x.fill(pc - off, r - off);
    }
    return r;
  }

  /**
   * Whether a data TLB entry may stand for the RAM page at offset `page`: no load/store trigger
   * is armed, and PMP allows the whole page alike for the effective privilege.
   */
  private mayFill(page: number, need: number): boolean {
    if (this.trig.data) return false;
    const priv = this.dataPriv;
    return (priv === PRIV_M && !this.pmp.locked) || this.pmp.allowsPage(page + this.ram.base, need, priv);
  }

  /**
   * Whether the block at RAM offset `off` must be one instruction long: an execute trigger is
   * armed, or a PMP region boundary falls inside its page (so each fetch is checked; exec.ts).
   */
  soloBlock(off: number): boolean {
    return this.trig.exec || (this.pmp.n > 0 && this.pmp.splits(off - (off & 0xfff) + this.ram.base));
  }

  /**
   * PMP settings or the armed triggers changed: drop every translation and decoded block, which
   * were checked against the old settings (3.7.2 lets software be required to fence; this
   * does it for it).
   */
  protectionChanged(): void {
    this.flushTlb();
    this.ram.onCodeFlush();
  }

  /**
   * What firmware does before it starts an S-mode kernel (OpenSBI's last PMP entry): one NAPOT
   * entry over the whole physical address space, RWX. For the direct boot, where Corral is the
   * firmware.
   */
  openPmp(): void {
    this.pmp.writeAddr(0, -1, 0x3fffff);
    this.pmp.writeCfg(0, 0x1f, 0);
    this.protectionChanged();
  }

  private dataCtx(): number {
    return ctxFor(this.dataPriv, this.mstatus);
  }

  /**
   * A write-TLB entry for the page at virtual `base`, RAM offset `ramOff`; dropped again when the
   * page holds code meanwhile: with harts on threads another hart may have marked it after this
   * one looked (it then drops the entries it finds, this one drops the entry it finds it made).
   */
  private fillWrite(base: number, ramOff: number): void {
    const c = this.dataCtx();
    const w = this.ctx[c]!.w;
    const g = this.walkGlobal ? this.tlb.global[c]!.w : null;
    w.fill(base, ramOff);
    g?.fill(base, ramOff);
    if (Atomics.load(this.ram.codePages, ramOff >>> 12) !== 0) {
      w.flushPage(base);
      g?.flushPage(base);
    }
  }

  /** Drop write-TLB entries for a RAM page that now holds code. */
  protectCodePage(ramPage: number): void {
    this.tlb.protectRamPage(ramPage * 4096);
  }

  /** Reset to the state a hart has at power-on (privileged spec 3.4). */
  reset(pc: number): void {
    this.x.fill(0);
    this.f.fill(0);
    this.fflags = 0;
    this.frm = 0;
    this.pc = pc;
    this.mstatus = 0;
    this.medeleg = 0;
    this.mideleg = 0;
    this.mie = 0;
    this.mipSw = 0;
    this.mcounteren = 0;
    this.scounteren = 0;
    this.scratch.fill(0);
    this.stimecmp = Number.MAX_VALUE;
    this.reservation = -1;
    this.sleeping = false;
    this.pmp.reset();
    this.trig.reset();
    this.flushTlb();
    this.setSatp(SATP_BARE, 0, 0);
    this.setPriv(PRIV_M);
  }

  /**
   * The architectural state (registers, CSRs, privilege, HSM state) at a slice boundary, where no
   * instruction is half done. TLBs, the LR reservation and decoded code are caches: a restored hart
   * starts with them empty (an SC after restore fails, as the spec allows any time).
   */
  saveState(): SavedState {
    return {
      x: arr(this.x.subarray(0, 64)),
      f: arr(this.f),
      fflags: this.fflags,
      frm: this.frm,
      pc: this.pc,
      priv: this.priv,
      state: this.state,
      sleeping: this.sleeping,
      mstatus: this.mstatus,
      medeleg: this.medeleg,
      mideleg: this.mideleg,
      mie: this.mie,
      mipExt: this.mipExt,
      mipSw: this.mipSw,
      mtvec: this.mtvec,
      stvec: this.stvec,
      mepc: this.mepc,
      sepc: this.sepc,
      mtval: this.mtval,
      stval: this.stval,
      mcause: this.mcause,
      mcauseInt: this.mcauseInt,
      scause: this.scause,
      scauseInt: this.scauseInt,
      scratch: arr(this.scratch),
      mcounteren: this.mcounteren,
      scounteren: this.scounteren,
      mcountinhibit: this.mcountinhibit,
      // Number.MAX_VALUE (no timer) is a finite JSON number.
      stimecmp: this.stimecmp,
      pmp: this.pmp.save(),
      triggers: this.trig.save(),
      satpMode: this.satpMode,
      satpRoot: this.satpRoot,
      satpAsid: this.satpAsid,
      instret: this.instret,
      cycleOffset: this.cycleOffset,
      instretOffset: this.instretOffset,
      ...(this.aia ? { iselect: [this.aia.miselect, this.aia.siselect] } : {}),
    };
  }

  restoreState(s: SavedState): void {
    fill(this.x.subarray(0, 64), s, "x");
    fill(this.f, s, "f");
    this.fflags = num(s, "fflags");
    this.frm = num(s, "frm");
    this.pc = num(s, "pc");
    this.mstatus = num(s, "mstatus");
    this.state = num(s, "state") as HartState;
    this.sleeping = bool(s, "sleeping");
    this.medeleg = num(s, "medeleg");
    this.mideleg = num(s, "mideleg");
    this.mie = num(s, "mie");
    this.mipExt = num(s, "mipExt");
    this.mipSw = num(s, "mipSw");
    this.mtvec = num(s, "mtvec");
    this.stvec = num(s, "stvec");
    this.mepc = num(s, "mepc");
    this.sepc = num(s, "sepc");
    this.mtval = num(s, "mtval");
    this.stval = num(s, "stval");
    this.mcause = num(s, "mcause");
    this.mcauseInt = bool(s, "mcauseInt");
    this.scause = num(s, "scause");
    this.scauseInt = bool(s, "scauseInt");
    fill(this.scratch, s, "scratch");
    this.mcounteren = num(s, "mcounteren");
    this.scounteren = num(s, "scounteren");
    this.mcountinhibit = num(s, "mcountinhibit");
    this.stimecmp = num(s, "stimecmp");
    const pmp = obj(s, "pmp");
    this.pmp.restore({ cfg: nums(pmp, "cfg"), addrLo: nums(pmp, "addrLo"), addrHi: nums(pmp, "addrHi") });
    const trig = obj(s, "triggers");
    this.trig.restore({
      select: num(trig, "select"),
      type: nums(trig, "type"),
      ctl: nums(trig, "ctl"),
      d2: nums(trig, "d2"),
    });
    this.instret = num(s, "instret");
    this.cycleOffset = num(s, "cycleOffset");
    this.instretOffset = num(s, "instretOffset");
    if (this.aia) {
      const sel = nums(s, "iselect");
      this.aia.miselect = sel[0] ?? 0;
      this.aia.siselect = sel[1] ?? 0;
    }
    this.reservation = -1;
    this.flushTlb();
    this.setSatp(num(s, "satpMode"), num(s, "satpAsid"), num(s, "satpRoot"));
    this.setPriv(num(s, "priv"));
  }

  markFsDirty(): void {
    this.mstatus |= 3 << 13;
  }
}

function ctxFor(priv: number, mstatus: number): number {
  if (priv === PRIV_M) return CTX_M;
  if (priv === PRIV_U) return CTX_U;
  return mstatus & MS_SUM ? CTX_S_SUM : CTX_S;
}

export { PRIV_M, PRIV_S, PRIV_U };
