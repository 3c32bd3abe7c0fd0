/**
 * The SBI's calls that act on other harts (IPI, RFENCE, HSM; SBI spec chapters 7-9), for a hart
 * on a thread of its own: through the other harts' slots in shared memory (hart-slots.ts).
 */
import { MIP_SSIP } from "../../cpu/isa/defs.js";
import { HartState } from "../../cpu/hart/hart.js";
import type { SbiRemote } from "../sbi.js";
import { REQ_START, REQ_SYNC, REQ_TLB, type HartSlots } from "./hart-slots.js";

export class RemoteHarts implements SbiRemote {
  readonly count: number;
  constructor(
    private readonly harts: readonly HartSlots[],
    private readonly self: number,
    /** Serve this hart's own requests (while it waits for another's: two harts fencing each other). */
    private readonly serveOwn: (fid: number) => void,
  ) {
    this.count = harts.length;
  }

  ipi(i: number): void {
    const t = this.harts[i]!;
    t.setMipSw(MIP_SSIP);
    t.request(0);
  }

  /**
   * RFENCE: remote_fence_i (0) or remote_sfence_vma[_asid] (1, 2) on hart `i`, complete when this
   * returns, as Linux expects (it frees page tables after the call). A hart that is parked (WFI,
   * stopped) serves its requests before it runs again, so it need not be waited for.
   */
  fence(i: number, fid: number): void {
    if (i === this.self) return this.serveOwn(fid);
    const t = this.harts[i]!;
    const bit = fid === 0 ? REQ_SYNC : REQ_TLB;
    t.request(bit);
    const me = this.harts[this.self]!;
    while ((t.requests() & bit) !== 0 && !t.parked() && t.hsm() === HartState.Started) {
      this.serveOwn(-1);
      me.wait(me.doorbell(), 0.05);
    }
    // Another hart may have taken this one as parked while it waited: serve what it left.
    this.serveOwn(-1);
  }

  start(i: number, pc: number, lo: number, hi: number): boolean {
    const t = this.harts[i]!;
    if (!t.casHsm(HartState.Stopped, HartState.StartPending)) return false;
    t.setStart(pc, lo, hi);
    t.request(REQ_START);
    return true;
  }

  state(i: number): HartState {
    return this.harts[i]!.hsm() as HartState;
  }
}
