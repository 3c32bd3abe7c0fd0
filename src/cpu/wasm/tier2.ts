/**
 * A second tier over compiled blocks (docs/benchmarks.md, branch tier2): once the hub has chained
 * often from compiled blocks of one RAM page to others of the same page (its counts, tier.ts
 * countTransition), the page's compiled blocks are compiled again, off the thread, as ONE function
 * (emit.ts tier2Body) that holds the guest registers in locals across them and goes on from member
 * to member inside itself, after static exits and after jalr exits whose target is a member. An
 * interpreter's dispatch (CPython's computed goto) is a jalr at the end of every handler: the hub
 * transition and each block's register loads and stores are what such a function saves.
 *
 * Exactness: the members share one physical page, and a store to a compiled block's page drops
 * every block of the page (engine/exec.ts codeWritten), so the function goes with all its members
 * (each slot released) and a running one stops at its next member transition (the stop slot, set
 * by the services' stopCheck), as a first-tier region does. A page's translation cannot change
 * inside a function (only closures change it, and a held function has none but at a block's end,
 * where it returns), so a jalr target in the function's virtual page is in its physical page.
 *
 * On with CORRAL_TIER2=1 (off by default: see docs/benchmarks.md for what it measured).
 */
import { encodeModule } from "./encoder.js";
import { tier2Body, RUN_TYPE, type Body } from "./emit.js";
import { LOCALS, MIN_PAGES, SERVICES } from "./emitter.js";
import { HartArea, T2_BUCKETS } from "./layout.js";
import type { Queued } from "./tier.js";

/** Whether WasmTiers made from now on have a second tier (tests turn it on). */
export const TIER2 = { on: process.env["CORRAL_TIER2"] === "1" };

/** In-page chainings of one page's bucket that make it hot. */
const HOT = Number(process.env["CORRAL_TIER2_HOT"] ?? 20000);
/** Print each function installed (measuring). */
const LOG = process.env["CORRAL_TIER2_LOG"] === "1";
/** Most members of one function. */
const MAX_MEMBERS = 32;

/** What the second tier needs of its WasmTier. */
export interface TierHost {
  readonly table: WebAssembly.Table;
  readonly imports: WebAssembly.Imports;
  /** Counts CodeCache.trim's drops: a function compiled across one is not installed. */
  generation(): number;
}

export class SecondTier {
  /** Compiled blocks by RAM page. */
  private readonly byPage = new Map<number, Set<Queued>>();
  /** Pages compiled again (or tried), and how many compiled blocks they had then. */
  private readonly tried = new Map<number, number>();
  private runs = 0;
  /** Why compiling a function failed (a bug, as for WasmTier's batches). */
  private failure: Error | null = null;
  /** Functions installed (tests and counts). */
  installed = 0;

  constructor(private readonly host: TierHost) {}

  placed(b: Queued): void {
    const page = b.off >>> 12;
    let set = this.byPage.get(page);
    if (set === undefined) this.byPage.set(page, (set = new Set()));
    set.add(b);
  }

  released(b: Queued): void {
    const page = b.off >>> 12;
    const set = this.byPage.get(page);
    if (set === undefined) return;
    set.delete(b);
    if (set.size === 0) {
      this.byPage.delete(page);
      this.tried.delete(page);
    }
  }

  forgetAll(): void {
    this.byPage.clear();
    this.tried.clear();
  }

  /** After a run of compiled code on the hart whose area `s` views: compile hot pages again. */
  afterRun(s: Int32Array): void {
    if (this.failure !== null) throw this.failure;
    if ((++this.runs & 15) !== 0) return;
    const at = HartArea.t2 >>> 2;
    for (let i = 0; i < T2_BUCKETS; i++) {
      if (s[at + 2 * i + 1]! < HOT) continue;
      const page = s[at + 2 * i]!;
      s[at + 2 * i] = -1;
      s[at + 2 * i + 1] = 0;
      this.compilePage(page);
    }
  }

  /**
   * Compile RAM page `page`'s compiled blocks as one function, unless tried with as many;
   * `offThread` as WasmTier.flush takes it (tests compile at once).
   */
  compilePage(page: number, offThread = true): void {
    const set = this.byPage.get(page);
    if (set === undefined) return;
    const live = [...set].filter((b) => !b.dead && b.wx >= 0 && b.hi < 0);
    if (live.length < 2 || (this.tried.get(page) ?? 0) >= live.length) return;
    this.tried.set(page, live.length);
    // The blocks that ran most in the interpreter, if more than fit.
    const chosen = live.length > MAX_MEMBERS ? live.sort((a, b) => b.hits - a.hits).slice(0, MAX_MEMBERS) : live;
    let members = chosen.sort((a, b) => a.off - b.off);
    let body = tier2Body(
      members,
      members.map((b) => b.wx),
    );
    if (body === null) {
      // Blocks that call a closure before their end cannot hold registers: leave them out.
      members = members.filter((b) => tier2Body([b], [b.wx]) !== null);
      if (members.length < 2) return;
      body = tier2Body(
        members,
        members.map((b) => b.wx),
      );
      if (body === null) return;
    }
    this.compile(members, body, offThread);
  }

  private compile(members: readonly Queued[], body: Body, offThread: boolean): void {
    const ids = members.map((b) => b.wx);
    const bytes = encodeModule({
      imports: SERVICES,
      memoryPages: MIN_PAGES,
      sharedMemory: false,
      funcs: [{ type: RUN_TYPE, locals: [...LOCALS, ...body.regLocals], code: body.code, export: "f0" }],
    });
    const gen = this.host.generation();
    const install = (module: WebAssembly.Module): void => {
      // A member dropped (its page written) or recompiled meanwhile: the function is stale.
      if (gen !== this.host.generation() || members.some((b, j) => b.dead || b.wx !== ids[j])) return;
      const f = new WebAssembly.Instance(module, this.host.imports).exports["f0"];
      for (const idx of ids) this.host.table.set(idx, f);
      this.installed++;
      if (LOG) process.stderr.write(`tier2: page ${members[0]!.off >>> 12}: ${members.length} members\n`);
    };
    if (!offThread) {
      install(new WebAssembly.Module(bytes));
      return;
    }
    WebAssembly.compile(bytes).then(install, (e: unknown) => {
      this.failure = e instanceof Error ? e : new Error(String(e));
    });
  }
}
