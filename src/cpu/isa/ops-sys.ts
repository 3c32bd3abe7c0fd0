/**
 * Control transfer and system instructions: branches, jumps, CSR access, ECALL/EBREAK, xRET,
 * WFI and SFENCE.VMA (unprivileged spec 2.5, 2.8, chapter 9 "Zicsr"; privileged spec 3.3, 4.2).
 * These end a block (branches only when taken): while a block runs, `h.pc` holds the block's
 * start, so each op adds its own offset `off` within the block.
 */
import { SPIN, THREADS } from "./threaded.js";
import { HartArea } from "../wasm/layout.js";
import { TWO32 } from "./int64.js";
import { csrAllowed, csrOut, csrRead, csrWrite } from "../hart/csr.js";
import {
  Csr,
  Exc,
  MIP_SEIP,
  MS_MIE,
  MS_MPIE,
  MS_MPP,
  MS_MPRV,
  MS_SIE,
  MS_SPIE,
  MS_SPP,
  MS_TSR,
  MS_TVM,
  MS_TW,
  PRIV_M,
  PRIV_S,
  PRIV_U,
} from "./defs.js";
import type { Hart } from "../hart/hart.js";
import { K } from "./kinds.js";
import { sltPair, sltuPair, type Op } from "./ops-int.js";

/** JAL: `target` and `link` are offsets from the block's pc (kinds.ts Entry). */
export function jal(d: number, target: number, link: number): Op {
  return (h) => {
    const l = h.pc + link;
    h.x[d] = l | 0;
    h.x[d + 1] = Math.floor(l / TWO32) | 0;
    h.pc += target;
  };
}
/** JALR: `link` is an offset from the block's pc. */
export function jalr(d: number, a: number, imm: number, link: number): Op {
  return (h) => {
    const x = h.x;
    const t = x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm;
    const l = h.pc + link;
    x[d] = l | 0;
    x[d + 1] = Math.floor(l / TWO32) | 0;
    h.pc = t - (t & 1);
  };
}

/**
 * BEQ, BNE, BLT, BGE, BLTU, BGEU, to `taken` bytes from the block's pc. A branch is a side exit,
 * not a block end (engine/exec.ts: blocks run on through untaken branches): taken, it sets the pc
 * to its target and returns true, which ends the block there; untaken, it returns false and the
 * next op runs.
 */
export function branch(kind: Branch, a: number, b: number, taken: number): Op {
  const cond = branchCondition(kind, a, b);
  return (h) => {
    if (!cond(h.x)) return false;
    h.pc += taken;
    return true;
  };
}

type Branch = K.BEQ | K.BNE | K.BLT | K.BGE | K.BLTU | K.BGEU;

function branchCondition(kind: Branch, a: number, b: number): (x: Int32Array) => boolean {
  switch (kind) {
    case K.BEQ:
      return (x) => x[a] === x[b] && x[a + 1] === x[b + 1];
    case K.BNE:
      return (x) => x[a] !== x[b] || x[a + 1] !== x[b + 1];
    case K.BLT:
      return (x) => sltPair(x[a + 1]!, x[a]!, x[b + 1]!, x[b]!);
    case K.BGE:
      return (x) => !sltPair(x[a + 1]!, x[a]!, x[b + 1]!, x[b]!);
    case K.BLTU:
      return (x) => sltuPair(x[a + 1]!, x[a]!, x[b + 1]!, x[b]!);
    case K.BGEU:
      return (x) => !sltuPair(x[a + 1]!, x[a]!, x[b + 1]!, x[b]!);
  }
}

/**
 * CSRRW/CSRRS/CSRRC and the immediate forms (Zicsr, 9.1): CSRRW with rd = x0 does not read;
 * CSRRS/CSRRC with rs1 = x0 (or uimm = 0) do not write, so a read-only CSR may be read that way.
 * `index`: instructions of the block before this one; they retire before it but are added to
 * instret only when the block ends, so the counter CSRs add them.
 */
export function csrOp(f3: number, csr: number, d: number, rs1: number, off: number, inst: number, index: number): Op {
  const kind = f3 & 3; // 1 = RW, 2 = RS, 3 = RC
  const imm = (f3 & 4) !== 0;
  const writes = kind === 1 || rs1 !== 0;
  const reads = kind !== 1 || d !== 64;
  return (h) => {
    if (!csrAllowed(h, csr, writes)) h.raise(Exc.Illegal, inst);
    const sl = imm ? rs1 : h.x[2 * rs1]!;
    const sh = imm ? 0 : h.x[2 * rs1 + 1]!;
    let ol = 0;
    let oh = 0;
    if (reads) {
      if (!csrRead(h, csr, index)) h.raise(Exc.Illegal, inst);
      ol = csrOut.lo;
      oh = csrOut.hi;
    }
    if (writes) {
      // mip.SEIP reads as the software bit OR the PLIC's signal, but only the software bit takes
      // part in CSRRS/CSRRC's read-modify-write (privileged spec 3.1.9); otherwise a set of SSIP
      // would latch a momentary external interrupt into the software bit forever.
      const base = csr === Csr.mip ? (ol & ~MIP_SEIP) | (h.mipSw & MIP_SEIP) : ol;
      const nl = kind === 1 ? sl : kind === 2 ? base | sl : base & ~sl;
      const nh = kind === 1 ? sh : kind === 2 ? oh | sh : oh & ~sh;
      if (!csrWrite(h, csr, nl, nh, index)) h.raise(Exc.Illegal, inst);
    }
    h.x[d] = ol;
    h.x[d + 1] = oh;
    h.pc += off + 4;
  };
}

/**
 * ECALL (3.3.1): an exception, but one every system call takes, so it is not thrown: a throw costs
 * V8 a message object and a stack walk through the compiled code's frames (~3 us; the exec path
 * makes ~60 system calls). The op ends its block (kinds.ts), leaves the pc at the ECALL (the
 * exception's epc) and the trap pending; the run loop takes it before the next block (runHart),
 * and does not count the ECALL as retired, as for a thrown trap.
 */
export function ecall(off: number): Op {
  return (h) => {
    h.pc += off;
    h.trapCause = h.priv === PRIV_U ? Exc.EcallU : h.priv === PRIV_S ? Exc.EcallS : Exc.EcallM;
    h.trapTval = 0;
    h.trapPending = true;
    h.irqCheck = true; // compiled code returns at once; the run loop looks (runHart)
  };
}
export function ebreak(off: number): Op {
  return (h) => h.raise(Exc.Breakpoint, h.pc + off);
}
export function illegal(inst: number): Op {
  return (h) => h.raise(Exc.Illegal, inst >>> 0);
}

/** MRET (3.3.2): back to MPP with MIE = MPIE; leaving M clears MPRV. */
export function mret(inst: number): Op {
  return (h) => {
    if (h.priv < PRIV_M) h.raise(Exc.Illegal, inst);
    const ms = h.mstatus;
    const mpp = (ms & MS_MPP) >>> 11;
    let n = (ms & ~(MS_MIE | MS_MPP)) | MS_MPIE | (ms & MS_MPIE ? MS_MIE : 0);
    if (mpp !== PRIV_M) n &= ~MS_MPRV;
    h.mstatus = n;
    h.pc = h.mepc;
    h.setPriv(mpp);
  };
}
/** SRET (3.3.2): illegal in U, and in S when mstatus.TSR is set. */
export function sret(inst: number): Op {
  return (h) => {
    const ms = h.mstatus;
    if (h.priv < PRIV_S || (h.priv === PRIV_S && ms & MS_TSR)) h.raise(Exc.Illegal, inst);
    const spp = ms & MS_SPP ? PRIV_S : PRIV_U;
    h.mstatus = (ms & ~(MS_SIE | MS_SPP | MS_MPRV)) | MS_SPIE | (ms & MS_SPIE ? MS_SIE : 0);
    h.pc = h.sepc;
    h.setPriv(spp);
  };
}
/** WFI (3.3.3): the hart sleeps until an interrupt is pending and enabled in mie, whatever the global enables. */
export function wfi(off: number, inst: number): Op {
  return (h) => {
    if (h.priv === PRIV_U || (h.priv === PRIV_S && h.mstatus & MS_TW)) h.raise(Exc.Illegal, inst);
    h.pc += off + 4;
    if ((h.mip & h.mie) === 0) {
      h.sleeping = true;
      h.irqCheck = true; // the run loop looks at sleeping/state only when irqCheck is set
    }
  };
}
/**
 * SFENCE.VMA rs1, rs2 (4.2.1): rs1 = x0 all addresses, else the page of rs1; rs2 = x0 all address
 * spaces, else the ASID in rs2's low bits (Hart.sfence). `a`, `b`: rs1, rs2 as register pair indices.
 */
export function sfenceVma(a: number, b: number, off: number, inst: number): Op {
  return (h) => {
    if (h.priv === PRIV_U || (h.priv === PRIV_S && h.mstatus & MS_TVM)) h.raise(Exc.Illegal, inst);
    h.sfence(a === 0 ? null : h.x[a + 1]! * TWO32 + (h.x[a]! >>> 0), b === 0 ? null : h.x[b]!);
    h.pc += off + 4;
  };
}
/**
 * FENCE.I: stores to code already invalidate cached blocks (see exec.ts), so only the block ends.
 * On a hart with a thread of its own (THREADS) it is also a full host barrier (a locked
 * read-modify-write), standing for FENCE RW,RW too (kinds.ts); and when other harts left requests
 * (code they overwrote, threads/requests.ts) the run loop hands back to the worker to serve them
 * before the next instruction, as Zifencei asks of FENCE.I.
 */
export function fenceI(off: number): Op {
  if (THREADS.on)
    return (h) => {
      h.pc += off + 4;
      if (Atomics.or(h.slots, HartArea.requests >>> 2, 0) !== 0) {
        h.yieldNow = true;
        h.irqCheck = true;
      }
    };
  return (h) => {
    h.pc += off + 4;
  };
}

/**
 * PAUSE (Zihintpause): Linux's cpu_relax, inside every spin-wait (spinlocks, mutex_spin_on_owner,
 * csd_lock_wait, multi_cpu_stop). A spinning hart waits for another hart, which on one thread
 * (Machine.run) cannot move while this one runs: the hart's slice ends at once and the next hart
 * runs. With a thread of its own, the guest may have more harts than the host has free cores, and
 * the lock's holder's thread is as often as not descheduled: after PAUSE_EXIT pauses in one slice
 * the hart hands back to its worker, which sleeps a moment and lets the holder run. Both are
 * KVM's pause-loop exiting (Intel SDM 25.1.3 "PAUSE-loop exiting"). Zihintpause lets PAUSE take
 * any time, no time at all included, so neither changes what the guest computes.
 */
export function pause(off: number): Op {
  if (!THREADS.on)
    return (h) => {
      h.pc += off + 4;
      h.yieldNow = true;
      h.irqCheck = true;
    };
  return (h) => {
    h.pc += off + 4;
    if (++SPIN.pauses >= PAUSE_EXIT) {
      SPIN.exit = true;
      h.yieldNow = true;
      h.irqCheck = true;
    }
  };
}

/** PAUSEs in one slice before the hart's thread hands its core away (about 10 µs of spinning). */
const PAUSE_EXIT = 128;

export type { Hart };
