/* aarch64 NEON inner kernel: vcnt per byte, pairwise-accumulated into 16-bit lanes, widened to
 * 32-bit lanes (one per output channel) at the end or every 4095 steps. */
#include "bnn.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define NEON_P 2

static void tile_neon_pair(const uint32_t* const* in_ptrs, int p0, int np, int taps, int words,
                           const uint32_t* w, int32_t* acc) {
  uint16x8_t a16[NEON_P][8];
  uint32x4_t a32[NEON_P][8];
  for (int p = 0; p < NEON_P; ++p)
    for (int r = 0; r < 8; ++r) {
      a16[p][r] = vdupq_n_u16(0);
      a32[p][r] = vdupq_n_u32(0);
    }
  int pending = 0;
  for (int t = 0; t < taps; ++t) {
    const uint32_t* ip[NEON_P];
    for (int p = 0; p < NEON_P; ++p) ip[p] = in_ptrs[(p0 + p < np ? p0 + p : 0) * taps + t];
    const uint32_t* wt = w + (size_t)t * words * BNN_TILE;
    for (int k = 0; k < words; ++k) {
      uint32x4_t b[NEON_P];
      for (int p = 0; p < NEON_P; ++p) b[p] = vdupq_n_u32(ip[p][k]);
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        const uint32x4_t wv = vld1q_u32(wt + k * BNN_TILE + 4 * r);
#pragma GCC unroll 2
        for (int p = 0; p < NEON_P; ++p)
          a16[p][r] = vpadalq_u8(a16[p][r], vcntq_u8(vreinterpretq_u8_u32(veorq_u32(b[p], wv))));
      }
      if (++pending == 4095) {
        for (int p = 0; p < NEON_P; ++p)
          for (int r = 0; r < 8; ++r) {
            a32[p][r] = vpadalq_u16(a32[p][r], a16[p][r]);
            a16[p][r] = vdupq_n_u16(0);
          }
        pending = 0;
      }
    }
  }
  for (int p = 0; p < NEON_P; ++p) {
    if (p0 + p >= np) break;
    for (int r = 0; r < 8; ++r)
      vst1q_s32(acc + (p0 + p) * BNN_TILE + 4 * r,
                vreinterpretq_s32_u32(vpadalq_u16(a32[p][r], a16[p][r])));
  }
}

void bnn_tile_neon(const uint32_t* const* in_ptrs, int np, int taps, int words, const uint32_t* w,
                   int32_t* acc) {
  for (int p0 = 0; p0 < np; p0 += NEON_P) tile_neon_pair(in_ptrs, p0, np, taps, words, w, acc);
}
#endif
