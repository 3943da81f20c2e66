/* bench/neon_profile.py's guest program: the project's binary convolutions, one at a time, on
 * random data, for a QEMU plugin (insn_count.c) to count their instructions. Reads one layer per
 * line from stdin, "in_h in_w channels_in out_c kernel stride groups", and runs each once between
 * two calls of neon_profile_mark() with the float-output epilogue most of the face model's
 * convolutions have in the fused delegate: y + residual into the block output, and the bits of
 * y * scale + shift for the next binary convolution. One thread, SAME one-padding. Each layer's
 * outputs are then checked against the portable kernel's (BNN_ISA_REF), bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn.h"

__attribute__((noinline)) void neon_profile_mark(int id) { __asm__ volatile("" : : "r"(id) : "memory"); }

static uint32_t rng = 2463534242u;
static uint32_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return rng;
}
static void* filled(size_t words) {
  uint32_t* p = malloc(4 * (words ? words : 1));
  if (!p) exit(3);
  for (size_t i = 0; i < words; ++i) p[i] = next();
  return p;
}
static float* floats(size_t n, float lo, float hi) {
  float* p = malloc(4 * (n ? n : 1));
  if (!p) exit(3);
  for (size_t i = 0; i < n; ++i) p[i] = lo + (hi - lo) * (float)(next() >> 8) / 16777216.0f;
  return p;
}

int main(void) {
  int in_h, in_w, cin, cout, k, stride, groups, n = 0;
  while (scanf("%d %d %d %d %d %d %d", &in_h, &in_w, &cin, &cout, &k, &stride, &groups) == 7) {
    bnn_bconv_shape s;
    memset(&s, 0, sizeof(s));
    s.batch = 1, s.in_h = in_h, s.in_w = in_w, s.channels_in = cin, s.in_words = (cin + 31) / 32;
    s.groups = groups, s.out_c = cout, s.k_h = s.k_w = k, s.stride_h = s.stride_w = stride;
    s.dil_h = s.dil_w = 1, s.out_h = (in_h + stride - 1) / stride, s.out_w = (in_w + stride - 1) / stride;
    const int pad_h = (s.out_h - 1) * stride + k - in_h, pad_w = (s.out_w - 1) * stride + k - in_w;
    s.pad_top = pad_h > 0 ? pad_h / 2 : 0, s.pad_left = pad_w > 0 ? pad_w / 2 : 0;
    s.act_min = -2147483647 - 1, s.act_max = 2147483647, s.out_kind = BNN_OUT_FLOAT;
    const int wpg = (cin / groups + 31) / 32;
    const size_t pixels = (size_t)s.out_h * s.out_w;
    int32_t* filter = filled((size_t)cout * k * k * wpg);
    float *mul = floats(cout, -0.1f, 0.1f), *bias = floats(cout, -1, 1);
    const char* err = 0;
    bnn_bconv* op = bnn_bconv_create(&s, filter, mul, bias, 0, 0, 0, BNN_ISA_NEON, &err);
    bnn_bconv* ref = bnn_bconv_create(&s, filter, mul, bias, 0, 0, 0, BNN_ISA_REF, &err);
    if (!op || !ref) {
      fprintf(stderr, "layer %d: %s\n", n, err ? err : "bnn_bconv_create failed");
      return 2;
    }
    int32_t* in = filled((size_t)in_h * in_w * s.in_words);
    float* residual = floats(pixels * cout, -1, 1);
    float *scale = floats(cout, 0.5f, 2), *shift = floats(cout, -1, 1);
    const size_t bit_words = pixels * ((cout + 31) / 32);
    bnn_epilogue e[2];
    for (int v = 0; v < 2; ++v) { /* v 0: NEON, 1: the portable kernel */
      memset(&e[v], 0, sizeof(e[v]));
      e[v].sum = floats(pixels * cout, 0, 0), e[v].sum_stride = cout, e[v].residual = residual;
      e[v].scale = scale, e[v].shift = shift, e[v].bits = calloc(bit_words ? bit_words : 1, 4);
    }
    neon_profile_mark(2 * n);
    const int rc = bnn_bconv_run_epilogue(op, in, &e[0], 1);
    neon_profile_mark(2 * n + 1);
    if (rc || bnn_bconv_run_epilogue(ref, in, &e[1], 1)) {
      fprintf(stderr, "layer %d: the fused epilogue refused it\n", n);
      return 2;
    }
    if (memcmp(e[0].sum, e[1].sum, 4 * pixels * cout) || memcmp(e[0].bits, e[1].bits, 4 * bit_words)) {
      fprintf(stderr, "layer %d: the NEON kernels' output differs from the portable kernel's\n", n);
      return 4;
    }
    bnn_bconv_destroy(op), bnn_bconv_destroy(ref);
    free(filter), free(mul), free(bias), free(in), free(residual), free(scale), free(shift);
    for (int v = 0; v < 2; ++v) free(e[v].sum), free(e[v].bits);
    ++n;
  }
  return n ? 0 : 1;
}
