/*
 * bnn-landmarks binary kernels: the Larq Compute Engine ops (LceQuantize, LceDequantize,
 * LceBconv2d, LceBMaxPool2d) as plain C, independent of TensorFlow.
 *
 * Conventions (the same as LCE's, checked against its interpreter by tests/runtime/test_kernels.py):
 *   - bit packing: channel c of a pixel goes to 32-bit word c / 32, bit c % 32 (LSB first);
 *     a set bit means -1, a clear bit +1; unused bits of the last word are 0.
 *   - tensors are NHWC, packed tensors NHW[ceil(C/32)] of int32.
 *   - bconv filters are OHWI packed: [Cout][kh][kw][ceil(Cin_per_group/32)] int32.
 *   - the binary dot product of one output is dot = K - 2 * popcount(in XOR w) with
 *     K = kh * kw * Cin_per_group; padding with +1 ("one padding") is free, zero padding is a
 *     per-border-pixel correction.
 */
#ifndef BNN_H_
#define BNN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BNN_API __attribute__((visibility("default")))

enum { BNN_OUT_FLOAT = 0, BNN_OUT_INT8 = 1, BNN_OUT_BITS = 2 };
enum { BNN_ISA_REF = 0, BNN_ISA_AVX2 = 1, BNN_ISA_AVX512 = 2, BNN_ISA_NEON = 3 };

/* Pixels per inner-kernel call and channels per weight tile (all ISAs). */
#define BNN_MAXP 8
#define BNN_TILE 32

/* Inner kernel: popcount(in XOR w) accumulated over taps x words for `np` output pixels
 * (np <= BNN_MAXP) of one row and BNN_TILE output channels.
 *   pixel p, tap t reads `words` consecutive uint32 at base + p * pix_step + tap_off[t];
 *   w:   [taps][words][BNN_TILE] uint32 (repacked weights of one tile); for AVX2
 *        [taps][words][2][BNN_TILE]: the low nibbles (w & 0x0f0f0f0f), then the high ones;
 *   acc: [np][BNN_TILE] int32, overwritten. */
typedef void (*bnn_tile_fn)(const uint32_t* base, ptrdiff_t pix_step, const int32_t* tap_off, int np,
                            int taps, int words, const uint32_t* w, int32_t* acc);

#define BNN_TILE_ARGS                                                                    \
  const uint32_t *base, ptrdiff_t pix_step, const int32_t *tap_off, int np, int taps, int words, \
      const uint32_t *w, int32_t *acc

void bnn_tile_ref(BNN_TILE_ARGS);
/* Per ISA, the narrowest inner kernel for a tile of nc (1 .. BNN_TILE) channels: one vector of 16
 * (AVX-512), 8 (AVX2) or 4 (NEON) channels at a time; acc's channels beyond its vectors are not
 * written. */
#if defined(__x86_64__)
bnn_tile_fn bnn_tile_avx2_for(int nc);
bnn_tile_fn bnn_tile_avx512_for(int nc);
#endif
#if defined(__aarch64__)
bnn_tile_fn bnn_tile_neon_for(int nc);
#endif

/* Pack `n32` full words (32 floats each, bit = x < 0) of one pixel row. */
typedef void (*bnn_pack_fn)(const float* in, int n32, uint32_t* out);
void bnn_pack32_ref(const float* in, int n32, uint32_t* out);
#if defined(__x86_64__)
void bnn_pack32_avx2(const float* in, int n32, uint32_t* out);
void bnn_pack32_avx512(const float* in, int n32, uint32_t* out);
#endif
#if defined(__aarch64__)
void bnn_pack32_neon(const float* in, int n32, uint32_t* out);
#endif

typedef struct {
  /* shapes */
  int batch, in_h, in_w;
  int channels_in;   /* real input channels, all groups */
  int in_words;      /* packed words per input pixel = ceil(channels_in / 32) */
  int groups;        /* channels_in / groups is a multiple of 32 when groups > 1 */
  int out_h, out_w, out_c;
  int k_h, k_w, stride_h, stride_w, dil_h, dil_w;
  int pad_top, pad_left; /* computed from TFLite's SAME/VALID rule */
  int zero_padding;      /* 1: pad with 0 (correction), 0: pad with +1 */
  int act_min, act_max;  /* clamp of the dot product (fused activation) */
  int out_kind;          /* BNN_OUT_* */
} bnn_bconv_shape;

typedef struct bnn_bconv bnn_bconv;

/* Repack weights and precompute everything static. filter: OHWI packed [out_c][k_h][k_w][wpg]
 * (wpg = words per group). mul/bias: [out_c] float (float or int8 output), thresholds: [out_c]
 * int32 (bit output). For int8 output, out_scale / out_zero_point are the output's
 * quantisation. Returns NULL on allocation failure or invalid shapes (err gets a message). */
bnn_bconv* bnn_bconv_create(const bnn_bconv_shape* shape, const int32_t* filter,
                            const float* mul, const float* bias, const int32_t* thresholds,
                            float out_scale, int out_zero_point, int isa, const char** err);
void bnn_bconv_destroy(bnn_bconv* op);
/* input: packed [batch][in_h][in_w][in_words]; output: float / int8 / packed int32. */
void bnn_bconv_run(const bnn_bconv* op, const int32_t* input, void* output, int threads);

/* Pack `n32` full words of one pixel row after a per-channel affine map: bit = x * scale + shift
 * < 0, the product and the sum each rounded to float (TFLite's MUL then ADD, never an FMA), so the
 * bits are those of MUL -> ADD -> LceQuantize. scale/shift hold 32 * n32 values. */
typedef void (*bnn_pack_affine_fn)(const float* in, const float* scale, const float* shift, int n32,
                                   uint32_t* out);
void bnn_pack32_affine_ref(const float* in, const float* scale, const float* shift, int n32, uint32_t* out);
#if defined(__x86_64__)
void bnn_pack32_affine_avx2(const float* in, const float* scale, const float* shift, int n32, uint32_t* out);
void bnn_pack32_affine_avx512(const float* in, const float* scale, const float* shift, int n32,
                              uint32_t* out);
#endif
#if defined(__aarch64__)
void bnn_pack32_affine_neon(const float* in, const float* scale, const float* shift, int n32, uint32_t* out);
#endif

/* Where a float-output convolution puts y [pixels][out_c] (bnn_bconv_run_epilogue). With `alpha`
 * ([out_c]), y is first PRELU(y, alpha) (y where its sign bit is clear, else y * alpha, as
 * XNNPACK's PRELU computes it). Then any of:
 *   y:    y[p * y_stride + c] = y                                 (NULL: y not written)
 *   sum:  sum[p * sum_stride + c] = y + residual[p * sum_stride + c]  (residual NULL: = y); both
 *         point at the channel offset of this convolution in a wider tensor (a concatenation)
 *   bits: bit c of pixel p's ceil(out_c / 32) words = y * scale[c] + shift[c] < 0
 *         (MUL -> ADD -> LceQuantize of y, rounded as TFLite rounds them) */
typedef struct {
  const float* alpha;
  float* y;
  int y_stride;
  float* sum;
  int sum_stride;
  const float* residual;
  const float *scale, *shift;
  int32_t* bits;
} bnn_epilogue;
/* The float output transform and epilogue of one inner-kernel block, vectorized per x86 ISA:
 * acc [np][BNN_TILE] (popcounts) of channels c0 .. c0 + nc -> y = float(clamp(2 * acc)) * mul +
 * bias (LCE's arithmetic, see bconv_row_body), then with `e` its epilogue (bits ORed into word
 * c0 / 32 of each pixel's `out_words` in `bits`; c0 a multiple of 32), without it y into
 * out[p * out_stride + j]. One-padded convolutions only (no zero-padding correction). */
typedef struct {
  const int32_t* acc;
  int np, nc, c0;
  size_t opix0; /* the block's first output pixel */
  const float *mul, *bias; /* at c0 */
  int32_t x_min, x_max;
  const bnn_epilogue* e;
  float* out;
  int out_stride;
  uint32_t* bits;
  int out_words;
} bnn_epi_args;
typedef void (*bnn_epi_fn)(const bnn_epi_args* a);
/* The AVX-512 inner kernel with bnn_epi_avx512 on its accumulators, which stay in registers (no
 * store and reload, no second call): a tile of a->np pixels and a->nc channels (16 or 32);
 * a->acc unused. Not on AVX2: there, next to the accumulators, the epilogue's constants do not fit
 * the 16 registers, and it ran slower than bnn_epi_avx2 after the tile. */
#define BNN_TILE_EPI_ARGS \
  const uint32_t *base, ptrdiff_t pix_step, const int32_t *tap_off, int taps, int words, const uint32_t *w, \
      const bnn_epi_args *a
#if defined(__x86_64__)
void bnn_tile_epi_avx512(BNN_TILE_EPI_ARGS);
void bnn_epi_avx2(const bnn_epi_args* a);   /* nc a multiple of 8 */
void bnn_epi_avx512(const bnn_epi_args* a); /* any nc */
#endif
#if defined(__aarch64__)
void bnn_epi_neon(const bnn_epi_args* a); /* nc a multiple of 4 */
#endif

/* -1 unless the convolution was created with float output. */
int bnn_bconv_run_epilogue(const bnn_bconv* op, const int32_t* input, const bnn_epilogue* e, int threads);

/* Pack `pixels` rows of `channels` values into ceil(channels/32) words each. */
void bnn_pack_float(const float* in, int pixels, int channels, int32_t* out, int threads, int isa);
void bnn_pack_int8(const int8_t* in, int pixels, int channels, int zero_point, int32_t* out,
                   int threads);
/* bnn_pack_float of x * scale + shift (per channel; see bnn_pack_affine_fn). */
void bnn_pack_affine(const float* in, int pixels, int channels, const float* scale, const float* shift,
                     int32_t* out, int threads, int isa);
/* CONCATENATION on the last axis then ADD, in one pass (each sum rounded as ADD rounds it), part
 * by part: out[p][off_k + c] = parts[k][p][c] + residual[p][off_k + c] (mode[k] 0), out += residual
 * in place where out already holds part k (mode 1), nothing (mode 2: done elsewhere). part_c[k]:
 * channels of part k, their sum the residual's channels. */
void bnn_concat_add(const float* const* parts, const int* part_c, const int* mode, int n_parts,
                    const float* residual, int pixels, float* out, int threads);
/* MAX_POOL_2D on float NHWC (windows f_h x f_w, strides s_h, s_w, padding ignored): the largest
 * input of each window, the first of equal ones. */
void bnn_maxpool_f32(const float* in, int batch, int in_h, int in_w, int channels, int f_h, int f_w, int s_h,
                     int s_w, int pad_top, int pad_left, int out_h, int out_w, float* out, int threads);
/* RESIZE_NEAREST_NEIGHBOR by integer factors f_h, f_w, then ADD: out[b][y][x][c] =
 * low[b][y / f_h][x / f_w][c] + skip[b][y][x][c] (NHWC, out and skip [batch][low_h * f_h][low_w *
 * f_w][channels]), each sum rounded as ADD rounds it. */
void bnn_upsample_add(const float* low, int batch, int low_h, int low_w, int channels, int f_h, int f_w,
                      const float* skip, float* out, int threads);
/* Unpack to +1/-1 (float) or to the int8 codes of +1 / -1. */
void bnn_unpack_float(const int32_t* in, int pixels, int channels, float* out);
void bnn_unpack_int8(const int32_t* in, int pixels, int channels, int8_t plus_one,
                     int8_t minus_one, int8_t* out);
/* Binary max pool on packed words: a bit is set only where every input in the window is -1. */
void bnn_maxpool(const int32_t* in, int batch, int in_h, int in_w, int words, int f_h, int f_w,
                 int s_h, int s_w, int pad_top, int pad_left, int out_h, int out_w,
                 int32_t* out, int threads);

/* Run-time ISA selection. */
BNN_API int bnn_best_isa(void);
BNN_API const char* bnn_isa_name(int isa);
/* BNN_ISA env var (ref, avx2, avx512, neon) overrides the choice, for tests and benchmarks. */
int bnn_selected_isa(void);
bnn_tile_fn bnn_tile_for(int isa, int nc); /* the ISA's narrowest kernel for nc channels (above) */

/* Tiny thread pool: run fn(ctx, i) for i in [0, n) on up to `threads` threads. */
typedef void (*bnn_task_fn)(void* ctx, int i);
void bnn_parallel_for(int n, int threads, bnn_task_fn fn, void* ctx);
/* On the calling thread, until called again: run bnn_parallel_for's work on `pool` through
 * `parallelize` (pthreadpool_parallelize_1d of the interpreter's XNNPACK: one set of workers for
 * all ops instead of two sets competing for the cores); NULL: the tiny pool above. */
typedef void (*bnn_parallelize_1d_fn)(void* pool, void (*task)(void*, size_t), void* ctx, size_t range,
                                      uint32_t flags);
void bnn_use_pool(void* pool, bnn_parallelize_1d_fn parallelize);
/* Binary MACs a convolution needs per thread to be split (lower on XNNPACK's spinning workers). */
double bnn_min_work_per_thread(void);

/* Memory hooks (malloc/free by default; the Android build provides its own). */
void* bnn_alloc(size_t bytes);
void bnn_free(void* p);

#ifdef __cplusplus
}
#endif
#endif /* BNN_H_ */
