/* A C benchmark guest for fuel metering: recursive fib(n), `reps` times (argv: n reps; default
 * fib(30) once). Call-heavy: clang -O2 turns one of the two recursive calls into a loop, so the
 * hot function has both a call and a loop back-edge, the costliest shape for a fuel counter.
 * Prints the result so the work cannot be elided; the same output metered or not. */
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(int argc, char **argv) {
  unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 30;
  int reps = argc > 2 ? atoi(argv[2]) : 1;
  unsigned r = 0;
  volatile unsigned vn = n; /* read on each repetition: the calls cannot be hoisted or merged */
  for (int i = 0; i < reps; i++) r += fib(vn);
  printf("fib(%u) x%d = %u\n", n, reps, r);
  return 0;
}
