/* A secret value spelled across a path's names, as src/core/redact.ts spansNames finds it: a tool
 * that shards a name into directories (git's objects: ab/cdef…) spells a token split by '/'s, and
 * so can a workload on purpose. The value's own '/'s stay required (k of them in a row: at least k
 * in the text); between two of its other characters any run of '/' may come. Only values of at
 * least BV_SPAN_MIN characters other than '/' (code points, as the TypeScript side counts them)
 * are looked for split: a shorter one matches common paths ("/run/s" in "/usr/bin/runsv").
 *
 * The text is read in units: one byte (u = 1), or two upper-case hex digits (u = 2: how audit
 * writes a string it will not quote). Pure, no allocation: used by the seccomp notifier (notify.c)
 * and the audit reader (audit.c), in the shim and in bvmonitor. */
#ifndef BV_SPAN_H
#define BV_SPAN_H

#include <stddef.h>

#define BV_SPAN_MIN 8

/* The byte at unit j of t (n units), or -1 where two characters are not upper-case hex. */
static inline int bv_span_unit(const char *t, size_t j, int u) {
  if (u == 1) return (unsigned char)t[j];
  int v = 0;
  for (int k = 0; k < 2; k++) {
    char c = t[2 * j + (size_t)k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Whether v[0..vl) is long enough to be looked for split. */
static inline int bv_span_eligible(const char *v, size_t vl) {
  size_t n = 0;
  for (size_t i = 0; i < vl; i++) {
    unsigned char b = (unsigned char)v[i];
    if (b != '/' && (b & 0xC0) != 0x80) n++; /* a code point's first byte */
  }
  return n >= BV_SPAN_MIN;
}

/* Whether the text from unit k spells all of v: the units it takes (> 0), else 0. *spelled: how
 * many bytes of v it spelled before the text ran out (vl when whole; short of vl when the text
 * ended first; 0 at a mismatch). */
static inline size_t bv_span_at(const char *t, size_t n, size_t k, int u, const char *v, size_t vl, size_t *spelled) {
  size_t i = 0, j = k;
  *spelled = 0;
  while (i < vl) {
    if (v[i] == '/') {
      size_t need = 0, got = 0;
      while (i < vl && v[i] == '/') need++, i++;
      while (j < n && bv_span_unit(t, j, u) == '/') got++, j++;
      if (got < need) {
        if (j == n) *spelled = i - need + got;
        return 0;
      }
      continue;
    }
    if (i > 0)
      while (j < n && bv_span_unit(t, j, u) == '/') j++;
    if (j == n) {
      *spelled = i;
      return 0;
    }
    if (bv_span_unit(t, j, u) != (unsigned char)v[i]) return 0;
    i++, j++;
  }
  *spelled = vl;
  return j - k;
}

#endif
