/**
 * Test support, not shipped behaviour: encode.ts's RV64 format encoders in the argument order the
 * tests write instructions in (immediate or funct7 first, opcode last), for tests that build guest
 * code word by word. (Not named *.test.ts: node --test must not run it by itself.)
 */
import { encB, encI, encJ, encR, encS } from "./encode.js";

export const R = (f7: number, rs2: number, rs1: number, f3: number, rd: number, opc: number): number =>
  encR(opc, rd, f3, rs1, rs2, f7);
export const I = (imm: number, rs1: number, f3: number, rd: number, opc: number): number => encI(opc, rd, f3, rs1, imm);
/** A store (opcode STORE). */
export const S = (imm: number, rs2: number, rs1: number, f3: number): number => encS(0x23, f3, rs1, rs2, imm);
export const B = (imm: number, rs2: number, rs1: number, f3: number): number => encB(f3, rs1, rs2, imm);
export const J = (imm: number, rd: number): number => encJ(rd, imm);
