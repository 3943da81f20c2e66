/* The few libc functions the kernels and the JNI bridge need, for a build without libc
 * (Android has no NDK sysroot here): memory from mmap system calls, string and memory helpers,
 * and a small formatter for TFLite's error messages. Everything is hidden: nothing here
 * interposes on the process's own libc. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "shim.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------ system calls */
#if defined(__aarch64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#define SYS_MMAP 222
#define SYS_MUNMAP 215
#elif defined(__x86_64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define SYS_MMAP 9
#define SYS_MUNMAP 11
#else
#error "shim.c supports aarch64 and x86_64"
#endif

#define PROT_RW 3       /* PROT_READ | PROT_WRITE */
#define MAP_PRIV_ANON 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */
#define HEADER 64       /* keeps 64-byte alignment for the vector kernels */

/* Each block is its own anonymous mapping (the kernels allocate only when a model is loaded). */
HIDDEN void* malloc(size_t n) {
  if (n > ((size_t)1 << 40)) return 0;
  const size_t total = (n + HEADER + 4095) & ~(size_t)4095;
  const long p = sys6(SYS_MMAP, 0, (long)total, PROT_RW, MAP_PRIV_ANON, -1, 0);
  if (p < 0 && p > -4096) return 0;
  *(size_t*)p = total;
  return (char*)p + HEADER;
}

HIDDEN void free(void* p) {
  if (!p) return;
  char* base = (char*)p - HEADER;
  sys6(SYS_MUNMAP, (long)base, (long)*(size_t*)base, 0, 0, 0, 0);
}

/* Built with -ffreestanding (no builtins): these loops are never turned back into calls. */
HIDDEN void* memset(void* d, int c, size_t n) {
  unsigned char* p = (unsigned char*)d;
  const uint64_t v = 0x0101010101010101ull * (unsigned char)c;
  while (n && ((uintptr_t)p & 7)) *p++ = (unsigned char)c, --n;
  for (; n >= 8; n -= 8, p += 8) *(uint64_t*)p = v;
  while (n--) *p++ = (unsigned char)c;
  return d;
}

HIDDEN void* memcpy(void* d, const void* s, size_t n) {
  unsigned char* o = (unsigned char*)d;
  const unsigned char* i = (const unsigned char*)s;
  if ((((uintptr_t)o | (uintptr_t)i) & 7) == 0)
    for (; n >= 8; n -= 8, o += 8, i += 8) *(uint64_t*)o = *(const uint64_t*)i;
  while (n--) *o++ = *i++;
  return d;
}

HIDDEN void* memmove(void* d, const void* s, size_t n) {
  unsigned char* o = (unsigned char*)d;
  const unsigned char* i = (const unsigned char*)s;
  if (o < i) {
    while (n--) *o++ = *i++;
  } else {
    while (n--) o[n] = i[n];
  }
  return d;
}

HIDDEN int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return (unsigned char)*a - (unsigned char)*b;
}

HIDDEN size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

/* No environment without libc: every BNN_* override reads as unset. */
HIDDEN char* getenv(const char* name) {
  (void)name;
  return 0;
}

/* ------------------------------------------------------------------ formatting */
typedef struct {
  char* buf;
  size_t cap, len;
} out_t;

static void put(out_t* o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void put_str(out_t* o, const char* s) {
  if (!s) s = "(null)";
  while (*s) put(o, *s++);
}

static void put_u(out_t* o, unsigned long long v, unsigned base) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (n) put(o, tmp[--n]);
}

static void put_i(out_t* o, long long v) {
  if (v < 0) {
    put(o, '-');
    put_u(o, 0ull - (unsigned long long)v, 10);
  } else {
    put_u(o, (unsigned long long)v, 10);
  }
}

static void put_f(out_t* o, double v) {
  if (v != v) {
    put_str(o, "nan");
    return;
  }
  if (v < 0) put(o, '-'), v = -v;
  if (v > 1e18) {
    put_str(o, "inf");
    return;
  }
  unsigned long long ip = (unsigned long long)v;
  unsigned long long frac = (unsigned long long)((v - (double)ip) * 1e6 + 0.5);
  if (frac >= 1000000ull) ip += 1, frac -= 1000000ull;
  put_u(o, ip, 10);
  put(o, '.');
  for (unsigned long long d = 100000ull; d; d /= 10) put(o, (char)('0' + (frac / d) % 10));
}

/* A subset of vsnprintf: %s %c %d %i %u %x %p %f %g %e %% with l/ll/z/h length modifiers and
 * ignored flags/width/precision. Always terminates; returns the length it wanted. */
HIDDEN int bnn_vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
  out_t o = {buf, cap, 0};
  for (const char* f = fmt; *f; ++f) {
    if (*f != '%') {
      put(&o, *f);
      continue;
    }
    ++f;
    while (*f == '-' || *f == '+' || *f == ' ' || *f == '#' || *f == '0') ++f;
    while ((*f >= '0' && *f <= '9') || *f == '.' || *f == '*') {
      if (*f == '*') (void)va_arg(ap, int);
      ++f;
    }
    int lng = 0;
    while (*f == 'l' || *f == 'z' || *f == 'h' || *f == 'j' || *f == 't') {
      if (*f == 'l' || *f == 'z' || *f == 'j' || *f == 't') ++lng;
      ++f;
    }
    switch (*f) {
      case 's': put_str(&o, va_arg(ap, const char*)); break;
      case 'c': put(&o, (char)va_arg(ap, int)); break;
      case 'd':
      case 'i': put_i(&o, lng ? va_arg(ap, long long) : va_arg(ap, int)); break;
      case 'u': put_u(&o, lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 10); break;
      case 'x': put_u(&o, lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 16); break;
      case 'p': put_str(&o, "0x"), put_u(&o, (uintptr_t)va_arg(ap, void*), 16); break;
      case 'f':
      case 'g':
      case 'e': put_f(&o, va_arg(ap, double)); break;
      case '%': put(&o, '%'); break;
      case 0: --f; break;
      default: put(&o, '%'), put(&o, *f); break;
    }
  }
  if (cap) buf[o.len < cap ? o.len : cap - 1] = 0;
  return (int)o.len;
}
