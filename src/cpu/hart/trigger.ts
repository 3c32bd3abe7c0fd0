/**
 * The debug trigger module as M-mode sees it (RISC-V Debug Specification 1.0, chapter 5,
 * "Sdtrig"): tselect, tdata1-3 and tinfo, with address-match triggers of type 6 (mcontrol6) and
 * the older type 2 (mcontrol, which QEMU 7.2 also has), on execute, load and store addresses,
 * action 0 only: a breakpoint exception (cause 3) with xtval = the address that matched (the
 * spec allows zero or that address) and xepc = the instruction, which has not executed. There
 * is no Debug Mode, so dmode is 0 and action 1 is not selectable.
 *
 * Matches: 0 (equal), 2 (>=) and 3 (<) on the access's first address; other match values are
 * WARL and read back as 0. An equal match fires for any byte a load or store accesses (the
 * spec's matching rules: it must fire when the lowest byte matches and may for the others).
 * Mode bits m, s, u select the privilege levels (the hart's, not MPRV's) at which it fires.
 *
 * Cost: nothing while no trigger is armed. An armed execute trigger keeps every page out of the
 * execute TLB and makes blocks one instruction long, so each fetch is checked in the slow path;
 * an armed load/store trigger keeps the data TLBs empty, so each access is checked there.
 * Arming and disarming flush the TLBs and the decoded blocks (Hart.triggersChanged).
 */
import { PRIV_M, PRIV_S, PRIV_U } from "../isa/defs.js";
import { signed64 } from "../isa/int64.js";

export const TRIGGERS = 4;

const TYPE_MCONTROL = 2;
const TYPE_MCONTROL6 = 6;
const TYPE_DISABLED = 15;

// Bits 11:0 shared by mcontrol and mcontrol6 (the low word of tdata1).
const LOAD = 1 << 0;
const STORE = 1 << 1;
const EXEC = 1 << 2;
const MODE_U = 1 << 3;
const MODE_S = 1 << 4;
const MODE_M = 1 << 6;
const MATCH_SHIFT = 7;
const MATCH_MASK = 0xf << MATCH_SHIFT;
const KEEP = LOAD | STORE | EXEC | MODE_U | MODE_S | MODE_M | MATCH_MASK;

const MATCH_EQ = 0;
const MATCH_GE = 2;
const MATCH_LT = 3;

/** Kinds of access a trigger watches: the same bit values as tdata1's execute/store/load. */
export const T_LOAD = LOAD;
export const T_STORE = STORE;
export const T_EXEC = EXEC;

export class Triggers {
  select = 0;
  /** tdata1's type by trigger (15: disabled, the reset state). */
  private readonly type = new Uint8Array(TRIGGERS).fill(TYPE_DISABLED);
  /** tdata1's low word (the bits kept) by trigger. */
  private readonly ctl = new Int32Array(TRIGGERS);
  /** tdata2 exactly, as pairs, and as the signed number that addresses compare against. */
  private readonly d2 = new Int32Array(2 * TRIGGERS);
  private readonly addr = new Float64Array(TRIGGERS);
  /** Some trigger watches instruction fetches / loads or stores: the slow paths check. */
  exec = false;
  data = false;

  reset(): void {
    this.select = 0;
    this.type.fill(TYPE_DISABLED);
    this.ctl.fill(0);
    this.d2.fill(0);
    this.addr.fill(0);
    this.update();
  }

  writeSelect(v: number, hi: number): void {
    // WARL: an index without a trigger leaves tselect as it was (debuggers read it back).
    if (hi === 0 && v >>> 0 < TRIGGERS) this.select = v;
  }

  readTdata1(): [number, number] {
    const t = this.select;
    const type = this.type[t]!;
    if (type === TYPE_DISABLED) return [0, TYPE_DISABLED << 28];
    return [this.ctl[t]!, type << 28];
  }

  /** Returns whether the armed set changed (the caller then flushes TLBs and blocks). */
  writeTdata1(lo: number, hi: number): boolean {
    const t = this.select;
    const type = hi >>> 28;
    const was = this.armedAt(t);
    if (type === TYPE_MCONTROL || type === TYPE_MCONTROL6) {
      let c = lo & KEEP;
      const match = (c & MATCH_MASK) >>> MATCH_SHIFT;
      if (match !== MATCH_EQ && match !== MATCH_GE && match !== MATCH_LT) c &= ~MATCH_MASK;
      this.type[t] = type;
      this.ctl[t] = c;
    } else {
      // Type 0 (writing 0 disables a trigger), 15, or a type this trigger does not have: the
      // trigger is disabled and reads type 15 (tdata1: "If this trigger supports multiple types,
      // then the hardware should disable it by changing type to 15").
      this.type[t] = TYPE_DISABLED;
      this.ctl[t] = 0;
    }
    this.update();
    return was || this.armedAt(t);
  }

  readTdata2(): [number, number] {
    const t = this.select;
    return [this.d2[2 * t]!, this.d2[2 * t + 1]!];
  }

  /** No flush needed: while a trigger is armed, the accesses it watches all take the slow path. */
  writeTdata2(lo: number, hi: number): void {
    const t = this.select;
    this.d2[2 * t] = lo;
    this.d2[2 * t + 1] = hi;
    this.addr[t] = signed64(lo, hi);
  }

  /** tinfo: version 1 (Sdtrig 1.0) and the types each trigger supports. */
  readTinfo(): number {
    return (1 << 24) | (1 << TYPE_MCONTROL) | (1 << TYPE_MCONTROL6) | (1 << TYPE_DISABLED);
  }

  private armedAt(t: number): boolean {
    const type = this.type[t]!;
    const c = this.ctl[t]!;
    return (
      (type === TYPE_MCONTROL || type === TYPE_MCONTROL6) &&
      (c & (LOAD | STORE | EXEC)) !== 0 &&
      (c & (MODE_U | MODE_S | MODE_M)) !== 0
    );
  }

  private update(): void {
    let exec = false;
    let data = false;
    for (let t = 0; t < TRIGGERS; t++) {
      if (!this.armedAt(t)) continue;
      if (this.ctl[t]! & EXEC) exec = true;
      if (this.ctl[t]! & (LOAD | STORE)) data = true;
    }
    this.exec = exec;
    this.data = data;
  }

  /**
   * Whether an access of `kind` (T_EXEC, T_LOAD, T_STORE) to the `size` bytes at virtual `va`,
   * made at privilege `priv`, fires a trigger.
   */
  fires(kind: number, va: number, size: number, priv: number): boolean {
    const mode = priv === PRIV_M ? MODE_M : priv === PRIV_S ? MODE_S : priv === PRIV_U ? MODE_U : 0;
    for (let t = 0; t < TRIGGERS; t++) {
      const c = this.ctl[t]!;
      if (!(c & kind) || !(c & mode) || !this.armedAt(t)) continue;
      const a = this.addr[t]!;
      const match = (c & MATCH_MASK) >>> MATCH_SHIFT;
      if (match === MATCH_EQ ? a >= va && a < va + size : match === MATCH_GE ? va >= a : va < a) return true;
    }
    return false;
  }
}
