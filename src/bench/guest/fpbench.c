/*
 * A floating-point bare-metal guest program for the FP benchmark (issue 17 item 1 d): double
 * precision at -O2, two numeric kernels that real programs spend their time in:
 *   - an n-body simulation (five bodies, leapfrog steps: fmul/fadd/fsub/fdiv/fsqrt.d, fused
 *     multiply-adds where the compiler contracts them);
 *   - a dense matrix multiply (C = A * B, 64 x 64, i-k-j order: loads, stores, fmadd.d).
 * It prints a checksum line and the time the kernels took (time CSR ticks, 10 MHz; both, then the
 * n-body part alone) on the virt board's UART (an NS16550A at 0x10000000) and reports through the
 * test finisher, so the same ELF runs unchanged on Corral and on QEMU; the two checksums must be
 * equal, bit for bit (IEEE 754 defines these operations' results exactly; the time CSR is 10 MHz
 * on both boards).
 */
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;

#define FINISHER ((volatile uint32_t *)0x100000)
#define UART ((volatile unsigned char *)0x10000000)
#ifndef STEPS
#define STEPS 200000
#endif
#ifndef MM_ROUNDS
#define MM_ROUNDS 24
#endif
#define NB 5
#define MN 64

static void putc_uart(char c) {
  while ((UART[5] & 0x20) == 0) {} /* LSR.THRE: room in the transmitter */
  UART[0] = (unsigned char)c;
}
static void puts_uart(const char *s) {
  while (*s) putc_uart(*s++);
}
static void puthex(uint64_t v) {
  for (int i = 60; i >= 0; i -= 4) putc_uart("0123456789abcdef"[(v >> i) & 15]);
}
static uint64_t bits(double d) {
  union { double d; uint64_t u; } x = {d};
  return x.u;
}

/* Positions, velocities and masses in units where G = 1; the start is arbitrary but fixed. */
static double px[NB], py[NB], pz[NB], vx[NB], vy[NB], vz[NB], mass[NB];

static void nbody_init(void) {
  static const double init[NB][7] = {
      {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 39.47},
      {4.84, -1.16, -0.10, 0.606, 2.81, -0.025, 0.0377},
      {8.34, 4.12, -0.40, -1.01, 1.82, 0.0084, 0.0113},
      {12.89, -15.11, -0.22, 1.08, 0.868, -0.011, 0.00172},
      {15.37, -25.91, 0.17, 0.979, 0.594, -0.034, 0.00203},
  };
  for (int i = 0; i < NB; i++) {
    px[i] = init[i][0]; py[i] = init[i][1]; pz[i] = init[i][2];
    vx[i] = init[i][3]; vy[i] = init[i][4]; vz[i] = init[i][5];
    mass[i] = init[i][6];
  }
}

static void nbody_step(double dt) {
  for (int i = 0; i < NB; i++) {
    for (int j = i + 1; j < NB; j++) {
      double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
      double d2 = dx * dx + dy * dy + dz * dz;
      double mag = dt / (d2 * __builtin_sqrt(d2));
      vx[i] -= dx * mass[j] * mag; vy[i] -= dy * mass[j] * mag; vz[i] -= dz * mass[j] * mag;
      vx[j] += dx * mass[i] * mag; vy[j] += dy * mass[i] * mag; vz[j] += dz * mass[i] * mag;
    }
  }
  for (int i = 0; i < NB; i++) {
    px[i] += dt * vx[i]; py[i] += dt * vy[i]; pz[i] += dt * vz[i];
  }
}

static double nbody_energy(void) {
  double e = 0.0;
  for (int i = 0; i < NB; i++) {
    e += 0.5 * mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
    for (int j = i + 1; j < NB; j++) {
      double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
      e -= mass[i] * mass[j] / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

static double A[MN][MN], B[MN][MN], C[MN][MN];

static double matmul(void) {
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      A[i][j] = (double)((i * 7 + j * 3) % 17) / 16.0 - 0.5;
      B[i][j] = (double)((i * 5 + j * 11) % 13) / 12.0 - 0.5;
    }
  double sum = 0.0;
  for (int r = 0; r < MM_ROUNDS; r++) {
    for (int i = 0; i < MN; i++)
      for (int j = 0; j < MN; j++) C[i][j] = 0.0;
    for (int i = 0; i < MN; i++)
      for (int k = 0; k < MN; k++) {
        double a = A[i][k];
        for (int j = 0; j < MN; j++) C[i][j] += a * B[k][j];
      }
    /* Feed the product back so no round can be skipped: B becomes C scaled into range. */
    double s = 0.0;
    for (int i = 0; i < MN; i++)
      for (int j = 0; j < MN; j++) s += C[i][j] * C[i][j];
    double scale = 1.0 / __builtin_sqrt(s / (MN * MN));
    for (int i = 0; i < MN; i++)
      for (int j = 0; j < MN; j++) B[i][j] = C[i][j] * scale;
    sum += s;
  }
  return sum;
}

/* The time CSR: the virt board's timer, 10 MHz on QEMU and on Corral (the device tree's timebase). */
static uint64_t rdtime(void) {
  uint64_t t;
  __asm__ volatile("rdtime %0" : "=r"(t));
  return t;
}

void main(void) {
  uint64_t t0 = rdtime();
  nbody_init();
  double e0 = nbody_energy();
  for (int s = 0; s < STEPS; s++) nbody_step(0.001);
  double e1 = nbody_energy();
  uint64_t nbody_ticks = rdtime() - t0; /* the n-body part alone: the bench splits the kernels */
  double mm = matmul();
  uint64_t ticks = rdtime() - t0;
  puts_uart("fpbench energy ");
  puthex(bits(e0));
  putc_uart(' ');
  puthex(bits(e1));
  puts_uart(" matmul ");
  puthex(bits(mm));
  puts_uart(" ticks ");
  puthex(ticks);
  puts_uart(" nbody ");
  puthex(nbody_ticks);
  putc_uart('\n');
  /* The energy must stay bounded (a broken FPU drifts or gives NaN): fail loudly if not. */
  double drift = e1 - e0;
  if (drift < 0) drift = -drift;
  *FINISHER = (drift < 1e-3 && mm == mm && mm > 0.0) ? 0x5555 : ((1u << 16) | 0x3333);
  for (;;) {}
}
