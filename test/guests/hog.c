/* A C test guest: allocates 1 MiB blocks until malloc fails, then reports how many it got.
 * Under a memory cap the guest's own malloc must fail (memory.grow returns -1) well before
 * the host runs out of anything. The blocks are kept and summed so the compiler cannot elide
 * the allocations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static char *keep[4096];
int main(void) {
  int n = 0;
  for (; n < 4096; n++) {
    keep[n] = malloc(1 << 20);
    if (!keep[n]) break;
    memset(keep[n], n & 0xff, 1 << 20);
  }
  unsigned long sum = 0;
  for (int i = 0; i < n; i++) sum += (unsigned char)keep[i][i];
  printf("%d\n", n);
  return sum == 0xffffffff ? 1 : 0;
}
