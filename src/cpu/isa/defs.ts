/**
 * Architectural constants (RISC-V privileged spec, version 20211203 / 1.12).
 * Grouped as the spec groups them; each group cites its section.
 */

/** Privilege levels (1.2). */
export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

/** Exception codes, mcause with interrupt bit clear (3.1.15, table 3.6). */
export const enum Exc {
  InstMisaligned = 0,
  InstAccess = 1,
  Illegal = 2,
  Breakpoint = 3,
  LoadMisaligned = 4,
  LoadAccess = 5,
  StoreMisaligned = 6,
  StoreAccess = 7,
  EcallU = 8,
  EcallS = 9,
  EcallM = 11,
  InstPage = 12,
  LoadPage = 13,
  StorePage = 15,
}

/** Interrupt numbers = mip/mie bit positions (3.1.9). */
export const enum Irq {
  SSI = 1,
  MSI = 3,
  STI = 5,
  MTI = 7,
  SEI = 9,
  MEI = 11,
}
export const MIP_SSIP = 1 << Irq.SSI;
export const MIP_MSIP = 1 << Irq.MSI;
export const MIP_STIP = 1 << Irq.STI;
export const MIP_MTIP = 1 << Irq.MTI;
export const MIP_SEIP = 1 << Irq.SEI;
export const MIP_MEIP = 1 << Irq.MEI;
/** Interrupts a supervisor can own (delegable through mideleg). */
export const S_INTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
export const ALL_INTS = S_INTS | MIP_MSIP | MIP_MTIP | MIP_MEIP;
/** Priority order for simultaneous interrupts (3.1.9): MEI, MSI, MTI, SEI, SSI, STI. */
export const IRQ_PRIORITY: readonly number[] = [Irq.MEI, Irq.MSI, Irq.MTI, Irq.SEI, Irq.SSI, Irq.STI];

/** Exceptions M-mode may delegate (medeleg is WARL; ecall from M is never delegable). */
export const MEDELEG_MASK = 0xb3ff;

/** mstatus bits, low word (3.1.6). The high word holds UXL/SXL (fixed at 2 = 64-bit) and SD. */
export const MS_SIE = 1 << 1;
export const MS_MIE = 1 << 3;
export const MS_SPIE = 1 << 5;
export const MS_UBE = 1 << 6;
export const MS_MPIE = 1 << 7;
export const MS_SPP = 1 << 8;
export const MS_VS = 3 << 9;
export const MS_MPP_SHIFT = 11;
export const MS_MPP = 3 << 11;
export const MS_FS_SHIFT = 13;
export const MS_FS = 3 << 13;
export const MS_XS = 3 << 15;
export const MS_MPRV = 1 << 17;
export const MS_SUM = 1 << 18;
export const MS_MXR = 1 << 19;
export const MS_TVM = 1 << 20;
export const MS_TW = 1 << 21;
export const MS_TSR = 1 << 22;
/** Bits M-mode software can write in the low word of mstatus. */
export const MSTATUS_WMASK =
  MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_FS | MS_MPRV | MS_SUM | MS_MXR | MS_TVM | MS_TW | MS_TSR;
/** The view sstatus gives of mstatus (4.1.1). */
export const SSTATUS_MASK = MS_SIE | MS_SPIE | MS_UBE | MS_SPP | MS_VS | MS_FS | MS_XS | MS_SUM | MS_MXR;
/** mstatus high word: UXL = SXL = 2 (XLEN 64), bits 32-35. */
export const MSTATUS_HI_XL = 0xa;
export const SSTATUS_HI_XL = 0x2;

/** menvcfg.STCE (bit 63): Sstc stimecmp enable; menvcfg high word bit 31. */
export const MENVCFG_HI_STCE = 1 << 31;

/** satp (4.1.11). */
export const SATP_BARE = 0;
export const SATP_SV39 = 8;
export const SATP_SV48 = 9;

/** CSR numbers (2.2, tables 2.2-2.5). */
export const enum Csr {
  fflags = 0x001,
  frm = 0x002,
  fcsr = 0x003,
  cycle = 0xc00,
  time = 0xc01,
  instret = 0xc02,
  sstatus = 0x100,
  sie = 0x104,
  stvec = 0x105,
  scounteren = 0x106,
  senvcfg = 0x10a,
  sscratch = 0x140,
  sepc = 0x141,
  scause = 0x142,
  stval = 0x143,
  sip = 0x144,
  stimecmp = 0x14d,
  satp = 0x180,
  // Ssaia (AIA spec, "Supervisor-level CSRs").
  siselect = 0x150,
  sireg = 0x151,
  stopei = 0x15c,
  stopi = 0xdb0,
  // Smaia (AIA spec, "Machine-level CSRs").
  mvien = 0x308,
  mvip = 0x309,
  miselect = 0x350,
  mireg = 0x351,
  mtopei = 0x35c,
  mtopi = 0xfb0,
  mvendorid = 0xf11,
  marchid = 0xf12,
  mimpid = 0xf13,
  mhartid = 0xf14,
  mconfigptr = 0xf15,
  mstatus = 0x300,
  misa = 0x301,
  medeleg = 0x302,
  mideleg = 0x303,
  mie = 0x304,
  mtvec = 0x305,
  mcounteren = 0x306,
  menvcfg = 0x30a,
  mcountinhibit = 0x320,
  mscratch = 0x340,
  mepc = 0x341,
  mcause = 0x342,
  mtval = 0x343,
  mip = 0x344,
  mtinst = 0x34a,
  mtval2 = 0x34b,
  mseccfg = 0x747,
  // Sdtrig (debug spec 1.0, 5.7): the trigger module's M-mode registers.
  tselect = 0x7a0,
  tdata1 = 0x7a1,
  tdata2 = 0x7a2,
  tdata3 = 0x7a3,
  tinfo = 0x7a4,
  mcycle = 0xb00,
  minstret = 0xb02,
}

/** misa for RV64IMAFDC + S + U (3.1.1): MXL=2 in bits 63:62, extension letters in 25:0. */
export const MISA_EXT = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20); // A C D F I M S U
export const MISA_HI = 0x8000_0000; // MXL = 2 at bits 63:62

/** The ISA string Corral implements, as the device tree advertises it. */
export const ISA_EXTENSIONS = [
  "i",
  "m",
  "a",
  "f",
  "d",
  "c",
  "zicntr",
  "zicsr",
  "zifencei",
  "zihintpause",
  "sstc",
] as const;
export const ISA_STRING = "rv64imafdc_zicntr_zicsr_zifencei_zihintpause_sstc";
