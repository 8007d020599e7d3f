/* A C test guest (clang --target=wasm32-wasi, Debian wasi-libc): copies a file from a read-only
 * preopen (/in) to a read-write one (/out) through libc, tries to write into the read-only one,
 * lists /in with readdir, and sleeps (poll_oneoff; a virtual clock in deterministic runs). */
#include <stdio.h>
#include <dirent.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  FILE *in = fopen("/in/source.txt", "r");
  if (!in) { perror("open /in/source.txt"); return 2; }
  FILE *out = fopen("/out/copy.txt", "w");
  if (!out) { perror("open /out/copy.txt"); return 3; }
  char buf[256]; size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
  fclose(in); fclose(out);
  FILE *bad = fopen("/in/nope.txt", "w");
  printf("write to read-only: %s\n", bad ? "ALLOWED" : "refused");
  DIR *d = opendir("/in");
  int count = 0; struct dirent *e;
  while (d && (e = readdir(d))) if (e->d_name[0] != '.') count++;
  printf("entries in /in: %d\n", count);
  sleep(1);
  printf("copied\n");
  return 0;
}
