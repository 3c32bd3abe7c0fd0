/*
 * A CPU-bound bare-metal guest program for the MIPS benchmark: integer mixing, multiplies,
 * table lookups, loads/stores and branches over a 64 KiB buffer, like real code. It runs in
 * M-mode on the virt board and reports through the test finisher (0x5555 = pass, else fail),
 * so the same ELF runs unchanged on Corral and on QEMU.
 */
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef unsigned char uint8_t;

#define FINISHER ((volatile uint32_t *)0x100000)
#define N 8192
#ifndef ROUNDS
#define ROUNDS 3000
#endif

static uint64_t buf[N];
static uint32_t table[256];

static uint32_t crc32_byte(uint32_t c, uint8_t b) { return table[(c ^ b) & 0xff] ^ (c >> 8); }

void main(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < N; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    buf[i] = x;
  }
  uint32_t crc = 0xffffffffu;
  uint64_t acc = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < N; i++) {
      uint64_t v = buf[i] * 0x100000001b3ull + acc;
      acc ^= v >> 29;
      if (v & 1) buf[i] = v; else acc += v;
      crc = crc32_byte(crc, (uint8_t)v);
    }
  }
  /* Fail loudly if the compiler ever optimised the work away: acc and crc are always used. */
  *FINISHER = (acc | crc) == 0 ? ((1u << 16) | 0x3333) : 0x5555;
  for (;;) {}
}
