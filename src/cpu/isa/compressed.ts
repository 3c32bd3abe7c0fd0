/**
 * The C extension (RISC-V unprivileged spec, chapter 16 "C" Standard Extension, RV64 column):
 * every 16-bit instruction is expanded once, at decode time, into the 32-bit instruction it stands
 * for, so the rest of the CPU knows only one encoding. Returns -1 for reserved/illegal encodings
 * (including the all-zero halfword, which the spec defines as illegal).
 */
import { encB, encI, encJ, encR, encS } from "./encode.js";

export function expandCompressed(c: number): number {
  const op = c & 3;
  const f3 = (c >>> 13) & 7;
  const rdp = ((c >>> 2) & 7) + 8; // rd' / rs2'
  const rs1p = ((c >>> 7) & 7) + 8; // rs1' / rd'
  const rd = (c >>> 7) & 31;
  const rs2 = (c >>> 2) & 31;
  const b12 = (c >>> 12) & 1;
  const imm6 = sext((b12 << 5) | rs2, 6); // imm[5] = bit 12, imm[4:0] = bits 6:2

  if (op === 0) {
    switch (f3) {
      case 0: {
        // C.ADDI4SPN: nzuimm[5:4|9:6|2|3] in bits 12:5.
        const imm = (((c >>> 11) & 3) << 4) | (((c >>> 7) & 15) << 6) | (((c >>> 6) & 1) << 2) | (((c >>> 5) & 1) << 3);
        return imm === 0 ? -1 : encI(0x13, rdp, 0, 2, imm);
      }
      case 1:
        return encI(0x07, rdp, 3, rs1p, uimmD(c)); // C.FLD
      case 2:
        return encI(0x03, rdp, 2, rs1p, uimmW(c)); // C.LW
      case 3:
        return encI(0x03, rdp, 3, rs1p, uimmD(c)); // C.LD
      case 5:
        return encS(0x27, 3, rs1p, rdp, uimmD(c)); // C.FSD
      case 6:
        return encS(0x23, 2, rs1p, rdp, uimmW(c)); // C.SW
      case 7:
        return encS(0x23, 3, rs1p, rdp, uimmD(c)); // C.SD
      default:
        return -1;
    }
  }
  if (op === 1) {
    switch (f3) {
      case 0:
        return encI(0x13, rd, 0, rd, imm6); // C.ADDI / C.NOP
      case 1:
        return rd === 0 ? -1 : encI(0x1b, rd, 0, rd, imm6); // C.ADDIW
      case 2:
        return encI(0x13, rd, 0, 0, imm6); // C.LI
      case 3: {
        if (rd === 2) {
          // C.ADDI16SP: nzimm[9] = bit 12, nzimm[4|6|8:7|5] = bits 6:2.
          const imm = sext(
            (b12 << 9) |
              (((c >>> 6) & 1) << 4) |
              (((c >>> 5) & 1) << 6) |
              (((c >>> 3) & 3) << 7) |
              (((c >>> 2) & 1) << 5),
            10,
          );
          return imm === 0 ? -1 : encI(0x13, 2, 0, 2, imm);
        }
        if (imm6 === 0) return -1;
        return (imm6 << 12) | (rd << 7) | 0x37; // C.LUI: nzimm[17:12]
      }
      case 4: {
        const f2 = (c >>> 10) & 3;
        const shamt = (b12 << 5) | rs2;
        if (f2 === 0) return encI(0x13, rs1p, 5, rs1p, shamt); // C.SRLI
        if (f2 === 1) return encI(0x13, rs1p, 5, rs1p, shamt | 0x400); // C.SRAI
        if (f2 === 2) return encI(0x13, rs1p, 7, rs1p, imm6); // C.ANDI
        const f = (c >>> 5) & 3;
        if (b12 === 0) {
          // C.SUB, C.XOR, C.OR, C.AND
          return encR(0x33, rs1p, f === 0 ? 0 : f === 1 ? 4 : f === 2 ? 6 : 7, rs1p, rdp, f === 0 ? 0x20 : 0);
        }
        if (f === 0) return encR(0x3b, rs1p, 0, rs1p, rdp, 0x20); // C.SUBW
        if (f === 1) return encR(0x3b, rs1p, 0, rs1p, rdp, 0); // C.ADDW
        return -1;
      }
      case 5: {
        // C.J: offset[11|4|9:8|10|6|7|3:1|5] in bits 12:2.
        const imm = sext(
          (b12 << 11) |
            (((c >>> 11) & 1) << 4) |
            (((c >>> 9) & 3) << 8) |
            (((c >>> 8) & 1) << 10) |
            (((c >>> 7) & 1) << 6) |
            (((c >>> 6) & 1) << 7) |
            (((c >>> 3) & 7) << 1) |
            (((c >>> 2) & 1) << 5),
          12,
        );
        return encJ(0, imm);
      }
      case 6:
      case 7: {
        // C.BEQZ / C.BNEZ: offset[8|4:3] in 12:10, offset[7:6|2:1|5] in 6:2.
        const imm = sext(
          (b12 << 8) |
            (((c >>> 10) & 3) << 3) |
            (((c >>> 5) & 3) << 6) |
            (((c >>> 3) & 3) << 1) |
            (((c >>> 2) & 1) << 5),
          9,
        );
        return encB(f3 === 6 ? 0 : 1, rs1p, 0, imm);
      }
    }
    return -1;
  }
  if (op === 2) {
    switch (f3) {
      case 0:
        return encI(0x13, rd, 1, rd, (b12 << 5) | rs2); // C.SLLI
      case 1:
        return encI(0x07, rd, 3, 2, uimmSpD(c)); // C.FLDSP
      case 2:
        return rd === 0 ? -1 : encI(0x03, rd, 2, 2, (b12 << 5) | (((c >>> 4) & 7) << 2) | (((c >>> 2) & 3) << 6)); // C.LWSP
      case 3:
        return rd === 0 ? -1 : encI(0x03, rd, 3, 2, uimmSpD(c)); // C.LDSP
      case 4:
        if (b12 === 0) {
          if (rs2 === 0) return rd === 0 ? -1 : encI(0x67, 0, 0, rd, 0); // C.JR
          return encR(0x33, rd, 0, 0, rs2, 0); // C.MV
        }
        if (rs2 === 0) return rd === 0 ? 0x00100073 /* C.EBREAK */ : encI(0x67, 1, 0, rd, 0); // C.JALR
        return encR(0x33, rd, 0, rd, rs2, 0); // C.ADD
      case 5:
        return encS(0x27, 3, 2, rs2, (((c >>> 10) & 7) << 3) | (((c >>> 7) & 7) << 6)); // C.FSDSP
      case 6:
        return encS(0x23, 2, 2, rs2, (((c >>> 9) & 15) << 2) | (((c >>> 7) & 3) << 6)); // C.SWSP
      case 7:
        return encS(0x23, 3, 2, rs2, (((c >>> 10) & 7) << 3) | (((c >>> 7) & 7) << 6)); // C.SDSP
    }
  }
  return -1;
}

/** uimm[5:3] in bits 12:10, uimm[2|6] in bits 6:5 (C.LW/C.SW). */
function uimmW(c: number): number {
  return (((c >>> 10) & 7) << 3) | (((c >>> 6) & 1) << 2) | (((c >>> 5) & 1) << 6);
}
/** uimm[5:3] in bits 12:10, uimm[7:6] in bits 6:5 (C.LD/C.SD/C.FLD/C.FSD). */
function uimmD(c: number): number {
  return (((c >>> 10) & 7) << 3) | (((c >>> 5) & 3) << 6);
}
/** uimm[5] in bit 12, uimm[4:3|8:6] in bits 6:2 (C.LDSP/C.FLDSP). */
function uimmSpD(c: number): number {
  return (((c >>> 12) & 1) << 5) | (((c >>> 5) & 3) << 3) | (((c >>> 2) & 7) << 6);
}
function sext(v: number, bits: number): number {
  const s = 32 - bits;
  return (v << s) >> s;
}
