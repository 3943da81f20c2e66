/* x86-64 inner kernels: AVX2 (nibble-table popcount) and AVX-512 VPOPCNTDQ.
 * Both compute BNN_MAXP pixels x BNN_TILE channels; pixels beyond np reuse pixel 0's input and
 * their results are discarded. */
#include "bnn.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* The popcounts of a tile into acc[p][0 .. halves): `halves` 16-channel vectors of the tile, 2, or
 * 1 for a tile of at most 16 channels. */
__attribute__((target("avx512f,avx512vpopcntdq,avx512bw"))) static inline __attribute__((always_inline)) void
tile_avx512_acc(const uint32_t* base, ptrdiff_t pix_step, const int32_t* tap_off, int np, int taps, int words,
                const uint32_t* w, const int halves, __m512i a[BNN_MAXP][2]) {
  const uint32_t* ip[BNN_MAXP];
#pragma GCC unroll 8
  for (int p = 0; p < BNN_MAXP; ++p) a[p][0] = a[p][1] = _mm512_setzero_si512();
  for (int t = 0; t < taps; ++t) {
#pragma GCC unroll 8
    for (int p = 0; p < BNN_MAXP; ++p) ip[p] = base + (p < np ? p : 0) * pix_step + tap_off[t];
    const uint32_t* wt = w + (size_t)t * words * BNN_TILE;
    for (int k = 0; k < words; ++k) {
      const __m512i w0 = _mm512_loadu_si512((const void*)(wt + k * BNN_TILE));
      const __m512i w1 = halves > 1 ? _mm512_loadu_si512((const void*)(wt + k * BNN_TILE + 16)) : w0;
#pragma GCC unroll 8
      for (int p = 0; p < BNN_MAXP; ++p) {
        const __m512i b = _mm512_set1_epi32((int)ip[p][k]);
        a[p][0] = _mm512_add_epi32(a[p][0], _mm512_popcnt_epi32(_mm512_xor_si512(b, w0)));
        if (halves > 1) a[p][1] = _mm512_add_epi32(a[p][1], _mm512_popcnt_epi32(_mm512_xor_si512(b, w1)));
      }
    }
  }
}

/* acc's channels 16 .. 31 are not written when halves is 1. */
__attribute__((target("avx512f,avx512vpopcntdq,avx512bw"))) static inline __attribute__((always_inline)) void
tile_avx512(BNN_TILE_ARGS, const int halves) {
  __m512i a[BNN_MAXP][2];
  tile_avx512_acc(base, pix_step, tap_off, np, taps, words, w, halves, a);
  /* constant indices only (unrolled, np tested per pixel): with `p < np` as the loop bound, GCC
   * kept a copy of the accumulators on the stack and zeroed it on every call */
#pragma GCC unroll 8
  for (int p = 0; p < BNN_MAXP; ++p) {
    if (p >= np) break;
    _mm512_storeu_si512((void*)(acc + p * BNN_TILE), a[p][0]);
    if (halves > 1) _mm512_storeu_si512((void*)(acc + p * BNN_TILE + 16), a[p][1]);
  }
}

__attribute__((target("avx512f,avx512vpopcntdq,avx512bw"))) static void tile_avx512_v2(BNN_TILE_ARGS) {
  tile_avx512(base, pix_step, tap_off, np, taps, words, w, acc, 2);
}
__attribute__((target("avx512f,avx512vpopcntdq,avx512bw"))) static void tile_avx512_v1(BNN_TILE_ARGS) {
  tile_avx512(base, pix_step, tap_off, np, taps, words, w, acc, 1);
}
bnn_tile_fn bnn_tile_avx512_for(int nc) { return nc <= 16 ? tile_avx512_v1 : tile_avx512_v2; }

/* AVX2 has no vector popcount: count nibbles with a shuffle table into byte counters, and widen
 * the byte counters into 32-bit lanes at least every 31 words (31 * 8 < 256). The weights come
 * split into their low and high nibbles (bnn_bconv_create), and each input word is split once
 * for the 4 weight vectors it meets, so that a nibble count costs an XOR and a shuffle:
 * popcount(x ^ w) = table[(x ^ w) & 15] + table[(x ^ w) >> 4] per byte, with (x ^ w) & 15 =
 * (x & 15) ^ (w & 15). One pixel at a time keeps everything in the 16 ymm registers. */
__attribute__((target("avx2"))) static inline __m256i widen_bytes(__m256i bytes) {
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, ones8), ones16);
}

/* `quarters` 8-channel vectors of the tile (1 .. 4). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void tile_avx2(BNN_TILE_ARGS,
                                                                                          const int quarters) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  for (int p = 0; p < np; ++p) {
    __m256i a32[4], a8[4];
    for (int r = 0; r < quarters; ++r) a32[r] = a8[r] = _mm256_setzero_si256();
    int pending = 0;
    for (int t = 0; t < taps; ++t) {
      const uint32_t* ip = base + p * pix_step + tap_off[t];
      const uint32_t* wt = w + (size_t)t * words * 2 * BNN_TILE;
      for (int k = 0; k < words; ++k) {
        const __m256i lo = _mm256_set1_epi32((int)(ip[k] & 0x0f0f0f0fu));
        const __m256i hi = _mm256_set1_epi32((int)((ip[k] >> 4) & 0x0f0f0f0fu));
        const uint32_t* wk = wt + (size_t)k * 2 * BNN_TILE;
#pragma GCC unroll 4
        for (int r = 0; r < quarters; ++r) {
          const __m256i cl = _mm256_shuffle_epi8(lut, _mm256_xor_si256(lo, _mm256_loadu_si256((const __m256i*)(wk + 8 * r))));
          const __m256i ch =
              _mm256_shuffle_epi8(lut, _mm256_xor_si256(hi, _mm256_loadu_si256((const __m256i*)(wk + BNN_TILE + 8 * r))));
          a8[r] = _mm256_add_epi8(a8[r], _mm256_add_epi8(cl, ch));
        }
        if (++pending == 31) {
          for (int r = 0; r < quarters; ++r) {
            a32[r] = _mm256_add_epi32(a32[r], widen_bytes(a8[r]));
            a8[r] = _mm256_setzero_si256();
          }
          pending = 0;
        }
      }
    }
    for (int r = 0; r < quarters; ++r)
      _mm256_storeu_si256((__m256i*)(acc + p * BNN_TILE + 8 * r), _mm256_add_epi32(a32[r], widen_bytes(a8[r])));
  }
}

#define TILE_AVX2(q)                                                             \
  __attribute__((target("avx2"))) static void tile_avx2_v##q(BNN_TILE_ARGS) { \
    tile_avx2(base, pix_step, tap_off, np, taps, words, w, acc, q);           \
  }
TILE_AVX2(1)
TILE_AVX2(2)
TILE_AVX2(3)
TILE_AVX2(4)
bnn_tile_fn bnn_tile_avx2_for(int nc) {
  static const bnn_tile_fn by_quarters[4] = {tile_avx2_v1, tile_avx2_v2, tile_avx2_v3, tile_avx2_v4};
  return by_quarters[(nc + 7) / 8 - 1];
}

/* bnn_epi_args' transform + epilogue, 16 (AVX-512) or 8 (AVX2) channels per vector; the float
 * operations one by one as the scalar code does them (no FMA), the PRELU on lanes whose sign bit
 * is set. The per-channel constants are loaded once per block, before the pixel loop, into
 * locals: read through the struct, every store to an output could alias them, and the compiler
 * reloaded them (and the output pointers) for each pixel. Compiled once per vector count `nv`,
 * so that the constants stay in registers. */
#define EPI_AVX512_MAX (BNN_TILE / 16)
/* AVX-512's per-channel constants of a block (the struct stays in registers once inlined). */
typedef struct {
  __mmask16 m[EPI_AVX512_MAX];
  __m512 mul[EPI_AVX512_MAX], bias[EPI_AVX512_MAX], alpha[EPI_AVX512_MAX], scale[EPI_AVX512_MAX],
      shift[EPI_AVX512_MAX];
  __m512i lo, hi;
} epi512_k;

__attribute__((target("avx512f,avx512dq"))) static inline __attribute__((always_inline)) void epi512_load(
    const bnn_epi_args* a, const int nv, epi512_k* k) {
  const bnn_epilogue* e = a->e;
  k->lo = _mm512_set1_epi32(a->x_min), k->hi = _mm512_set1_epi32(a->x_max);
  for (int h = 0; h < nv; ++h) {
    const int j = 16 * h;
    k->m[h] = a->nc - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (a->nc - j)) - 1);
    k->mul[h] = _mm512_maskz_loadu_ps(k->m[h], a->mul + j);
    k->bias[h] = _mm512_maskz_loadu_ps(k->m[h], a->bias + j);
    /* unused ones 0, not uninitialised (a zeroed register costs nothing; a zeroed struct did) */
    k->alpha[h] = e && e->alpha ? _mm512_maskz_loadu_ps(k->m[h], e->alpha + a->c0 + j) : _mm512_setzero_ps();
    const int b = e && e->bits;
    k->scale[h] = b ? _mm512_maskz_loadu_ps(k->m[h], e->scale + a->c0 + j) : _mm512_setzero_ps();
    k->shift[h] = b ? _mm512_maskz_loadu_ps(k->m[h], e->shift + a->c0 + j) : _mm512_setzero_ps();
  }
}

/* Output pixel p of the block from its popcounts acc[h] (nv vectors). `full`: nc == 16 * nv, plain
 * loads and stores (masked ones cost more: 4-14 % of a layer on Zen 4). */
__attribute__((target("avx512f,avx512dq"))) static inline __attribute__((always_inline)) void epi512_pixel(
    const bnn_epi_args* a, const epi512_k* k, const int nv, const int full, const int p, const __m512i* acc) {
  const bnn_epilogue* e = a->e;
  const size_t opix = a->opix0 + p;
  uint32_t word = 0;
  for (int h = 0; h < nv; ++h) {
    const int j = 16 * h;
    const __mmask16 m = full ? (__mmask16)0xffff : k->m[h];
    __m512i x2 = _mm512_slli_epi32(acc[h], 1);
    x2 = _mm512_min_epi32(_mm512_max_epi32(x2, k->lo), k->hi);
    __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(x2), k->mul[h]), k->bias[h]);
    if (!e) {
      float* o = a->out + opix * (size_t)a->out_stride + j;
      if (full) _mm512_storeu_ps(o, y); else _mm512_mask_storeu_ps(o, m, y);
      continue;
    }
    if (e->alpha) y = _mm512_mask_mul_ps(y, _mm512_movepi32_mask(_mm512_castps_si512(y)), y, k->alpha[h]);
    if (e->y) {
      float* o = e->y + opix * (size_t)e->y_stride + a->c0 + j;
      if (full) _mm512_storeu_ps(o, y); else _mm512_mask_storeu_ps(o, m, y);
    }
    if (e->sum) {
      const size_t o = opix * (size_t)e->sum_stride + a->c0 + j;
      __m512 v = y;
      if (e->residual) v = _mm512_add_ps(y, full ? _mm512_loadu_ps(e->residual + o) : _mm512_maskz_loadu_ps(m, e->residual + o));
      if (full) _mm512_storeu_ps(e->sum + o, v); else _mm512_mask_storeu_ps(e->sum + o, m, v);
    }
    if (e->bits) {
      const __m512 t = _mm512_add_ps(_mm512_mul_ps(y, k->scale[h]), k->shift[h]);
      word |= (uint32_t)(_mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LT_OQ) & m) << j;
    }
  }
  if (e && e->bits) a->bits[(a->c0 >> 5) + p * a->out_words] |= word;
}

__attribute__((target("avx512f,avx512dq"))) static inline __attribute__((always_inline)) void epi_avx512(
    const bnn_epi_args* a, const int nv, const int full) {
  epi512_k k;
  epi512_load(a, nv, &k);
  for (int p = 0; p < a->np; ++p) {
    __m512i acc[EPI_AVX512_MAX];
    for (int h = 0; h < nv; ++h)
      acc[h] = full ? _mm512_loadu_si512(a->acc + p * BNN_TILE + 16 * h)
                    : _mm512_maskz_loadu_epi32(k.m[h], a->acc + p * BNN_TILE + 16 * h);
    epi512_pixel(a, &k, nv, full, p, acc);
  }
}

__attribute__((target("avx512f,avx512dq"))) void bnn_epi_avx512(const bnn_epi_args* a) {
  if (a->nc == 32) epi_avx512(a, 2, 1);
  else if (a->nc == 16) epi_avx512(a, 1, 1);
  else if (a->nc > 16) epi_avx512(a, 2, 0);
  else epi_avx512(a, 1, 0);
}

/* tile_avx512 with the epilogue on its accumulators (no store and reload), nc == 16 * halves. */
__attribute__((target("avx512f,avx512vpopcntdq,avx512bw,avx512dq"))) static inline __attribute__((always_inline)) void
tile_epi_avx512(BNN_TILE_EPI_ARGS, const int halves) {
  __m512i acc[BNN_MAXP][2];
  tile_avx512_acc(base, pix_step, tap_off, a->np, taps, words, w, halves, acc);
  epi512_k k;
  epi512_load(a, halves, &k);
#pragma GCC unroll 8
  for (int p = 0; p < BNN_MAXP; ++p) { /* constant indices, as in tile_avx512 */
    if (p >= a->np) break;
    epi512_pixel(a, &k, halves, 1, p, acc[p]);
  }
}

__attribute__((target("avx512f,avx512vpopcntdq,avx512bw,avx512dq"))) void bnn_tile_epi_avx512(BNN_TILE_EPI_ARGS) {
  if (a->nc == 32) tile_epi_avx512(base, pix_step, tap_off, taps, words, w, a, 2);
  else tile_epi_avx512(base, pix_step, tap_off, taps, words, w, a, 1);
}

#define EPI_AVX2_MAX (BNN_TILE / 8)
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void epi_avx2(const bnn_epi_args* a,
                                                                                         const int nv) {
  const bnn_epilogue* e = a->e;
  const int np = a->np, c0 = a->c0;
  const __m256i lo = _mm256_set1_epi32(a->x_min), hi = _mm256_set1_epi32(a->x_max);
  const __m256 zero = _mm256_setzero_ps();
  const int32_t* restrict acc = a->acc;
  __m256 mul[EPI_AVX2_MAX], bias[EPI_AVX2_MAX], alpha[EPI_AVX2_MAX], scale[EPI_AVX2_MAX], shift[EPI_AVX2_MAX];
  const float* restrict al = e ? e->alpha : 0;
  float* restrict ey = e ? e->y : 0;
  float* restrict sum = e ? e->sum : 0;
  const float* restrict res = e ? e->residual : 0;
  const int want_bits = e && e->bits;
  for (int h = 0; h < nv; ++h) {
    const int j = 8 * h;
    mul[h] = _mm256_loadu_ps(a->mul + j);
    bias[h] = _mm256_loadu_ps(a->bias + j);
    if (al) alpha[h] = _mm256_loadu_ps(al + c0 + j);
    if (want_bits) {
      scale[h] = _mm256_loadu_ps(e->scale + c0 + j);
      shift[h] = _mm256_loadu_ps(e->shift + c0 + j);
    }
  }
  float* restrict out = a->out;
  const size_t out_stride = (size_t)a->out_stride, y_stride = e ? (size_t)e->y_stride : 0,
               sum_stride = e ? (size_t)e->sum_stride : 0;
  uint32_t* restrict bits = a->bits + (c0 >> 5);
  for (int p = 0; p < np; ++p) {
    const size_t opix = a->opix0 + p;
    uint32_t word = 0;
    for (int h = 0; h < nv; ++h) {
      const int j = 8 * h;
      __m256i x2 = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(acc + p * BNN_TILE + j)), 1);
      x2 = _mm256_min_epi32(_mm256_max_epi32(x2, lo), hi);
      __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(x2), mul[h]), bias[h]);
      if (!e) {
        _mm256_storeu_ps(out + opix * out_stride + j, y);
        continue;
      }
      if (al) y = _mm256_blendv_ps(y, _mm256_mul_ps(y, alpha[h]), y);
      if (ey) _mm256_storeu_ps(ey + opix * y_stride + c0 + j, y);
      if (sum) {
        const size_t o = opix * sum_stride + c0 + j;
        _mm256_storeu_ps(sum + o, res ? _mm256_add_ps(y, _mm256_loadu_ps(res + o)) : y);
      }
      if (want_bits) {
        const __m256 t = _mm256_add_ps(_mm256_mul_ps(y, scale[h]), shift[h]);
        word |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(t, zero, _CMP_LT_OQ)) << j;
      }
    }
    if (want_bits) bits[p * a->out_words] |= word;
  }
}

__attribute__((target("avx2"))) void bnn_epi_avx2(const bnn_epi_args* a) {
  switch (a->nc / 8) {
    case 4: epi_avx2(a, 4); break;
    case 3: epi_avx2(a, 3); break;
    case 2: epi_avx2(a, 2); break;
    default: epi_avx2(a, 1);
  }
}

/* Peak microbenchmarks: the inner kernels' instructions on registers only, 16 independent
 * accumulators. Return the number of binary MACs (bits through xor+popcount+add) or float MACs. */
__attribute__((target("avx512f,avx512vpopcntdq"))) double bnn_peak_bmacs_avx512(long iters) {
  __m512i a[16], x = _mm512_set1_epi32(0x5a5a5a5a), y = _mm512_set1_epi32(0x12345678);
  for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_epi32(i);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) a[i] = _mm512_add_epi32(a[i], _mm512_popcnt_epi32(_mm512_xor_si512(a[i], x)));
    __asm__ volatile("" : "+v"(x), "+v"(y));
  }
  __m512i s = a[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, a[i]);
  volatile int sink = _mm512_reduce_add_epi32(s);
  (void)sink;
  return (double)iters * 16 * 512;
}

__attribute__((target("avx2"))) double bnn_peak_bmacs_avx2(long iters) {
  /* the inner kernel's instructions per 256 bits: two XORs (nibble planes), two shuffles, two adds */
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  __m256i a[8], x = _mm256_set1_epi32(0x05050a0a), y = _mm256_set1_epi32(0x0a0a0505);
  for (int i = 0; i < 8; ++i) a[i] = _mm256_set1_epi32(i);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      a[i] = _mm256_add_epi8(a[i], _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(a[i], x)),
                                                   _mm256_shuffle_epi8(lut, _mm256_xor_si256(a[i], y))));
    }
    __asm__ volatile("" : "+x"(x), "+x"(y));
  }
  __m256i s = a[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_epi32(s, a[i]);
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
  return (double)iters * 8 * 256;
}

__attribute__((target("avx512f"))) double bnn_peak_fmacs_avx512(long iters) {
  __m512 a[16], x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __asm__ volatile("" : "+v"(x), "+v"(y));
  }
  __m512 s = a[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, a[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return (double)iters * 16 * 16;
}

__attribute__((target("avx2,fma"))) double bnn_peak_fmacs_avx2(long iters) {
  __m256 a[12], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps((float)i);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __asm__ volatile("" : "+x"(x), "+x"(y));
  }
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return (double)iters * 12 * 8;
}

__attribute__((target("avx512f,avx512dq"))) void bnn_pack32_avx512(const float* in, int n32,
                                                                 uint32_t* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (int w = 0; w < n32; ++w) {
    const __mmask16 lo = _mm512_cmp_ps_mask(_mm512_loadu_ps(in + 32 * w), zero, _CMP_LT_OQ);
    const __mmask16 hi = _mm512_cmp_ps_mask(_mm512_loadu_ps(in + 32 * w + 16), zero, _CMP_LT_OQ);
    out[w] = (uint32_t)lo | ((uint32_t)hi << 16);
  }
}

__attribute__((target("avx2"))) void bnn_pack32_avx2(const float* in, int n32, uint32_t* out) {
  const __m256 zero = _mm256_setzero_ps();
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int q = 0; q < 4; ++q)
      v |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(in + 32 * w + 8 * q), zero, _CMP_LT_OQ))
           << (8 * q);
    out[w] = v;
  }
}

/* x * scale + shift < 0 with the product and the sum rounded separately (mul then add, no FMA). */
__attribute__((target("avx512f,avx512dq"))) void bnn_pack32_affine_avx512(const float* in, const float* scale,
                                                                        const float* shift, int n32,
                                                                        uint32_t* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int h = 0; h < 2; ++h) {
      const int o = 32 * w + 16 * h;
      const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(in + o), _mm512_loadu_ps(scale + o)),
                                     _mm512_loadu_ps(shift + o));
      v |= (uint32_t)_mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ) << (16 * h);
    }
    out[w] = v;
  }
}

__attribute__((target("avx2"))) void bnn_pack32_affine_avx2(const float* in, const float* scale,
                                                            const float* shift, int n32, uint32_t* out) {
  const __m256 zero = _mm256_setzero_ps();
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int q = 0; q < 4; ++q) {
      const int o = 32 * w + 8 * q;
      const __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(in + o), _mm256_loadu_ps(scale + o)),
                                     _mm256_loadu_ps(shift + o));
      v |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(y, zero, _CMP_LT_OQ)) << (8 * q);
    }
    out[w] = v;
  }
}
#endif
