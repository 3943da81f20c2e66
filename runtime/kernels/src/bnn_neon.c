/* aarch64 NEON inner kernel: vcnt per byte, pairwise-accumulated into 16-bit lanes, widened to
 * 32-bit lanes (one per output channel) at the end or every 4095 steps. Compiled for 1 .. 8
 * vectors of 4 channels, so that a tile of nc channels runs ceil(nc / 4) of them. */
#include "bnn.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define NEON_P 2

static inline __attribute__((always_inline)) void tile_neon_pair(int p0, BNN_TILE_ARGS, const int nv) {
  uint16x8_t a16[NEON_P][8];
  uint32x4_t a32[NEON_P][8];
  for (int p = 0; p < NEON_P; ++p)
    for (int r = 0; r < nv; ++r) {
      a16[p][r] = vdupq_n_u16(0);
      a32[p][r] = vdupq_n_u32(0);
    }
  int pending = 0;
  for (int t = 0; t < taps; ++t) {
    const uint32_t* ip[NEON_P];
    for (int p = 0; p < NEON_P; ++p) ip[p] = base + (p0 + p < np ? p0 + p : 0) * pix_step + tap_off[t];
    const uint32_t* wt = w + (size_t)t * words * BNN_TILE;
    for (int k = 0; k < words; ++k) {
      uint32x4_t b[NEON_P];
      for (int p = 0; p < NEON_P; ++p) b[p] = vdupq_n_u32(ip[p][k]);
#pragma GCC unroll 8
      for (int r = 0; r < nv; ++r) {
        const uint32x4_t wv = vld1q_u32(wt + k * BNN_TILE + 4 * r);
#pragma GCC unroll 2
        for (int p = 0; p < NEON_P; ++p)
          a16[p][r] = vpadalq_u8(a16[p][r], vcntq_u8(vreinterpretq_u8_u32(veorq_u32(b[p], wv))));
      }
      if (++pending == 4095) {
        for (int p = 0; p < NEON_P; ++p)
          for (int r = 0; r < nv; ++r) {
            a32[p][r] = vpadalq_u16(a32[p][r], a16[p][r]);
            a16[p][r] = vdupq_n_u16(0);
          }
        pending = 0;
      }
    }
  }
  for (int p = 0; p < NEON_P; ++p) {
    if (p0 + p >= np) break;
    for (int r = 0; r < nv; ++r)
      vst1q_s32(acc + (p0 + p) * BNN_TILE + 4 * r,
                vreinterpretq_s32_u32(vpadalq_u16(a32[p][r], a16[p][r])));
  }
}

#define TILE_NEON(nv)                                                  \
  static void tile_neon_v##nv(BNN_TILE_ARGS) {                         \
    for (int p0 = 0; p0 < np; p0 += NEON_P)                            \
      tile_neon_pair(p0, base, pix_step, tap_off, np, taps, words, w, acc, nv); \
  }
TILE_NEON(1)
TILE_NEON(2)
TILE_NEON(3)
TILE_NEON(4)
TILE_NEON(5)
TILE_NEON(6)
TILE_NEON(7)
TILE_NEON(8)
bnn_tile_fn bnn_tile_neon_for(int nc) {
  static const bnn_tile_fn by_vectors[8] = {tile_neon_v1, tile_neon_v2, tile_neon_v3, tile_neon_v4,
                                            tile_neon_v5, tile_neon_v6, tile_neon_v7, tile_neon_v8};
  return by_vectors[(nc + 3) / 4 - 1];
}

/* bnn_epi_args' transform + epilogue, 4 channels per vector (nc a multiple of 4), as epi_avx2 in
 * bnn_x86.c: the float operations one by one as the scalar code does them (vmul then vadd, never
 * an FMA), the PRELU on lanes whose sign bit is set. Vector by vector, each over the block's
 * pixels: a vector's 5 per-channel constants stay in registers (all of them for 8 vectors would
 * not fit the 32), and the pixels' bit words are ORed together in `words`. Compiled for full
 * blocks of BNN_MAXP pixels, whose y then stay in registers, and for any count. */
static inline __attribute__((always_inline)) void epi_neon(const bnn_epi_args* a, const int np) {
  const bnn_epilogue* e = a->e;
  const int c0 = a->c0, nv = a->nc / 4;
  const int32x4_t lo = vdupq_n_s32(a->x_min), hi = vdupq_n_s32(a->x_max);
  const float32x4_t zero = vdupq_n_f32(0.0f);
  const uint32_t nibble_[4] = {1, 2, 4, 8};
  const uint32x4_t nibble = vld1q_u32(nibble_);
  const float* restrict al = e ? e->alpha : 0;
  float* restrict ey = e ? e->y : 0;
  float* restrict sum = e ? e->sum : 0;
  const float* restrict res = e ? e->residual : 0;
  const int want_bits = e && e->bits;
  const size_t out_stride = (size_t)a->out_stride, y_stride = e ? (size_t)e->y_stride : 0,
               sum_stride = e ? (size_t)e->sum_stride : 0;
  uint32_t words[BNN_MAXP] = {0};
  for (int h = 0; h < nv; ++h) {
    const int j = 4 * h;
    const float32x4_t mul = vld1q_f32(a->mul + j), bias = vld1q_f32(a->bias + j);
    const int32_t* restrict acc = a->acc + j;
    float32x4_t y[BNN_MAXP];
    for (int p = 0; p < np; ++p) {
      const int32x4_t x2 = vminq_s32(vmaxq_s32(vshlq_n_s32(vld1q_s32(acc + p * BNN_TILE), 1), lo), hi);
      y[p] = vaddq_f32(vmulq_f32(vcvtq_f32_s32(x2), mul), bias);
    }
    if (!e) {
      for (int p = 0; p < np; ++p) vst1q_f32(a->out + (a->opix0 + p) * out_stride + j, y[p]);
      continue;
    }
    if (al) {
      const float32x4_t alpha = vld1q_f32(al + c0 + j);
      for (int p = 0; p < np; ++p)
        y[p] = vbslq_f32(vcltzq_s32(vreinterpretq_s32_f32(y[p])), vmulq_f32(y[p], alpha), y[p]);
    }
    if (ey)
      for (int p = 0; p < np; ++p) vst1q_f32(ey + (a->opix0 + p) * y_stride + c0 + j, y[p]);
    if (sum && res) {
      for (int p = 0; p < np; ++p) {
        const size_t o = (a->opix0 + p) * sum_stride + c0 + j;
        vst1q_f32(sum + o, vaddq_f32(y[p], vld1q_f32(res + o)));
      }
    } else if (sum) {
      for (int p = 0; p < np; ++p) vst1q_f32(sum + (a->opix0 + p) * sum_stride + c0 + j, y[p]);
    }
    if (want_bits) {
      const float32x4_t scale = vld1q_f32(e->scale + c0 + j), shift = vld1q_f32(e->shift + c0 + j);
      for (int p = 0; p < np; ++p) {
        const uint32x4_t neg = vcltq_f32(vaddq_f32(vmulq_f32(y[p], scale), shift), zero);
        words[p] |= vaddvq_u32(vandq_u32(neg, nibble)) << j;
      }
    }
  }
  if (want_bits) {
    uint32_t* restrict bits = a->bits + (c0 >> 5);
    for (int p = 0; p < np; ++p) bits[p * a->out_words] |= words[p];
  }
}

void bnn_epi_neon(const bnn_epi_args* a) {
  if (a->np == BNN_MAXP) epi_neon(a, BNN_MAXP);
  else epi_neon(a, a->np);
}

double bnn_peak_bmacs_neon(long iters) {
  uint16x8_t a[16];
  uint8x16_t x = vdupq_n_u8(0x5a), v[16];
  for (int i = 0; i < 16; ++i) {
    a[i] = vdupq_n_u16(0);
    v[i] = vdupq_n_u8((uint8_t)i);
  }
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) a[i] = vpadalq_u8(a[i], vcntq_u8(veorq_u8(v[i], x)));
    __asm__ volatile("" : "+w"(x));
  }
  uint32_t s = 0;
  for (int i = 0; i < 16; ++i) s += vaddlvq_u16(a[i]);
  volatile uint32_t sink = s;
  (void)sink;
  return (double)iters * 16 * 128;
}

double bnn_peak_fmacs_neon(long iters) {
  float32x4_t a[16], x = vdupq_n_f32(0.999f), y = vdupq_n_f32(1e-7f);
  for (int i = 0; i < 16; ++i) a[i] = vdupq_n_f32((float)i);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) a[i] = vfmaq_f32(y, a[i], x);
    __asm__ volatile("" : "+w"(x), "+w"(y));
  }
  float s = 0;
  for (int i = 0; i < 16; ++i) s += vaddvq_f32(a[i]);
  volatile float sink = s;
  (void)sink;
  return (double)iters * 16 * 4;
}

void bnn_pack32_neon(const float* in, int n32, uint32_t* out) {
  const uint32_t weights_[4] = {1, 2, 4, 8};
  const uint32x4_t weights = vld1q_u32(weights_);
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int q = 0; q < 8; ++q) {
      const uint32x4_t m = vcltq_f32(vld1q_f32(in + 32 * w + 4 * q), zero);
      v |= vaddvq_u32(vandq_u32(m, weights)) << (4 * q);
    }
    out[w] = v;
  }
}

/* x * scale + shift < 0 with the product and the sum rounded separately (vmul then vadd, no FMA). */
void bnn_pack32_affine_neon(const float* in, const float* scale, const float* shift, int n32,
                            uint32_t* out) {
  const uint32_t weights_[4] = {1, 2, 4, 8};
  const uint32x4_t weights = vld1q_u32(weights_);
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int q = 0; q < 8; ++q) {
      const int o = 32 * w + 4 * q;
      const float32x4_t y = vaddq_f32(vmulq_f32(vld1q_f32(in + o), vld1q_f32(scale + o)), vld1q_f32(shift + o));
      v |= vaddvq_u32(vandq_u32(vcltq_f32(y, zero), weights)) << (4 * q);
    }
    out[w] = v;
  }
}
#endif
