/* A C benchmark guest for fuel metering, loop-heavy and call-free in its hot paths: a sieve of
 * Eratosthenes, an integer matrix multiply and a table-driven CRC-32, `reps` times (argv; default
 * 1). Tight nested loops, where a fuel check on every back-edge costs the most relative to the
 * work. Prints checksums so the work cannot be elided; the same output metered or not. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#define SIEVE 2000000
#define MAT 160
#define BUF (1 << 20)
static unsigned char composite[SIEVE + 1];
static int32_t a[MAT][MAT], b[MAT][MAT], c[MAT][MAT];
static unsigned char buf[BUF];
static uint32_t crctab[256];

static unsigned sieve(void) {
  for (int i = 0; i <= SIEVE; i++) composite[i] = 0;
  unsigned primes = 0;
  for (int i = 2; i <= SIEVE; i++) {
    if (composite[i]) continue;
    primes++;
    for (int j = 2 * i; j <= SIEVE; j += i) composite[j] = 1;
  }
  return primes;
}

static int32_t matmul(int seed) {
  for (int i = 0; i < MAT; i++)
    for (int j = 0; j < MAT; j++) {
      a[i][j] = (i * 31 + j * 17 + seed) % 101 - 50;
      b[i][j] = (i * 7 + j * 13 + seed) % 97 - 48;
    }
  for (int i = 0; i < MAT; i++)
    for (int j = 0; j < MAT; j++) {
      int32_t s = 0;
      for (int k = 0; k < MAT; k++) s += a[i][k] * b[k][j];
      c[i][j] = s;
    }
  int32_t t = 0;
  for (int i = 0; i < MAT; i++) t ^= c[i][(i * 7) % MAT] + i;
  return t;
}

static uint32_t crc32(int seed) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t x = n;
    for (int k = 0; k < 8; k++) x = x & 1 ? 0xedb88320u ^ (x >> 1) : x >> 1;
    crctab[n] = x;
  }
  uint32_t x = 2463534242u ^ (uint32_t)seed;
  for (int i = 0; i < BUF; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    buf[i] = (unsigned char)x;
  }
  uint32_t crc = 0xffffffffu;
  for (int i = 0; i < BUF; i++) crc = crctab[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 1;
  unsigned p = 0;
  int32_t m = 0;
  uint32_t k = 0;
  for (int r = 0; r < reps; r++) {
    p += sieve();
    m ^= matmul(r);
    k ^= crc32(r);
  }
  printf("primes %u matmul %d crc %08x\n", p, (int)m, (unsigned)k);
  return 0;
}
