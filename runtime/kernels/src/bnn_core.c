/* Portable parts of the bnn-landmarks kernels: reference inner kernel, weight repacking,
 * output transforms, packing, max pool, ISA selection and a small thread pool. */
#include "bnn.h"

#ifndef BNN_FREESTANDING
#include <stdlib.h>
#include <string.h>
#else
void* malloc(size_t);
void free(void*);
void* memset(void*, int, size_t);
void* memcpy(void*, const void*, size_t);
char* getenv(const char*);
#endif

#if !defined(BNN_NO_THREADS)
#include <pthread.h>
#include <stdatomic.h>
#endif

void* bnn_alloc(size_t bytes) { return malloc(bytes ? bytes : 1); }
void bnn_free(void* p) { free(p); }

static inline int popc32(uint32_t x) { return __builtin_popcount(x); }

/* ------------------------------------------------------------------ reference inner kernel */
void bnn_tile_ref(BNN_TILE_ARGS) {
  for (int p = 0; p < np; ++p) {
    int32_t* a = acc + p * BNN_TILE;
    for (int c = 0; c < BNN_TILE; ++c) a[c] = 0;
    for (int t = 0; t < taps; ++t) {
      const uint32_t* in = base + p * pix_step + tap_off[t];
      const uint32_t* wt = w + (size_t)t * words * BNN_TILE;
      for (int k = 0; k < words; ++k) {
        const uint32_t x = in[k];
        for (int c = 0; c < BNN_TILE; ++c) a[c] += popc32(x ^ wt[k * BNN_TILE + c]);
      }
    }
  }
}

void bnn_pack32_ref(const float* in, int n32, uint32_t* out) {
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int k = 0; k < 32; ++k) v |= (uint32_t)(in[32 * w + k] < 0.0f) << k;
    out[w] = v;
  }
}

void bnn_pack32_affine_ref(const float* in, const float* scale, const float* shift, int n32,
                           uint32_t* out) {
  for (int w = 0; w < n32; ++w) {
    uint32_t v = 0;
    for (int k = 0; k < 32; ++k) {
      const float m = in[32 * w + k] * scale[32 * w + k]; /* rounded: no FMA (-ffp-contract=off) */
      v |= (uint32_t)(m + shift[32 * w + k] < 0.0f) << k;
    }
    out[w] = v;
  }
}

static bnn_pack_affine_fn pack_affine_for(int isa) {
  switch (isa) {
#if defined(__x86_64__)
    case BNN_ISA_AVX2: return bnn_pack32_affine_avx2;
    case BNN_ISA_AVX512: return bnn_pack32_affine_avx512;
#endif
#if defined(__aarch64__)
    case BNN_ISA_NEON: return bnn_pack32_affine_neon;
#endif
    default: return bnn_pack32_affine_ref;
  }
}

static bnn_pack_fn pack_for(int isa) {
  switch (isa) {
#if defined(__x86_64__)
    case BNN_ISA_AVX2: return bnn_pack32_avx2;
    case BNN_ISA_AVX512: return bnn_pack32_avx512;
#endif
#if defined(__aarch64__)
    case BNN_ISA_NEON: return bnn_pack32_neon;
#endif
    default: return bnn_pack32_ref;
  }
}

/* ------------------------------------------------------------------ peak microbenchmarks */
#if defined(__x86_64__)
double bnn_peak_bmacs_avx512(long iters);
double bnn_peak_bmacs_avx2(long iters);
double bnn_peak_fmacs_avx512(long iters);
double bnn_peak_fmacs_avx2(long iters);
#endif
#if defined(__aarch64__)
double bnn_peak_bmacs_neon(long iters);
double bnn_peak_fmacs_neon(long iters);
#endif

/* Binary MACs done by `iters` iterations of the selected ISA's xor+popcount+add loop (time it). */
BNN_API double bnn_peak_bmacs(long iters) {
  switch (bnn_selected_isa()) {
#if defined(__x86_64__)
    case BNN_ISA_AVX512: return bnn_peak_bmacs_avx512(iters);
    case BNN_ISA_AVX2: return bnn_peak_bmacs_avx2(iters);
#endif
#if defined(__aarch64__)
    case BNN_ISA_NEON: return bnn_peak_bmacs_neon(iters);
#endif
    default: return 0;
  }
}

/* Float MACs done by `iters` iterations of the widest FMA loop this CPU has (time it). */
BNN_API double bnn_peak_fmacs(long iters) {
#if defined(__x86_64__) && !defined(BNN_FREESTANDING)
  if (__builtin_cpu_supports("avx512f")) return bnn_peak_fmacs_avx512(iters);
  if (__builtin_cpu_supports("fma")) return bnn_peak_fmacs_avx2(iters);
  return 0;
#elif defined(__aarch64__)
  return bnn_peak_fmacs_neon(iters);
#else
  (void)iters;
  return 0;
#endif
}

/* ------------------------------------------------------------------ ISA selection */
const char* bnn_isa_name(int isa) {
  switch (isa) {
    case BNN_ISA_AVX2: return "avx2";
    case BNN_ISA_AVX512: return "avx512-vpopcntdq";
    case BNN_ISA_NEON: return "neon";
    default: return "ref";
  }
}

#if defined(__x86_64__) && defined(BNN_FREESTANDING)
#include <cpuid.h>
/* No libgcc/compiler-rt for __builtin_cpu_supports: read CPUID and XCR0 directly. */
static int x86_best_isa(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return BNN_ISA_REF; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0x6) != 0x6) return BNN_ISA_REF; /* the OS saves SSE + AVX state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return BNN_ISA_REF;
  const int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, bw = (b >> 30) & 1, vpop = (c >> 14) & 1;
  if (f && bw && vpop && (lo & 0xE6) == 0xE6) return BNN_ISA_AVX512;
  return avx2 ? BNN_ISA_AVX2 : BNN_ISA_REF;
}
#endif

int bnn_best_isa(void) {
#if defined(__x86_64__) && defined(BNN_FREESTANDING)
  return x86_best_isa();
#elif defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw"))
    return BNN_ISA_AVX512;
  if (__builtin_cpu_supports("avx2")) return BNN_ISA_AVX2;
  return BNN_ISA_REF;
#elif defined(__aarch64__)
  return BNN_ISA_NEON; /* NEON is part of the aarch64 baseline */
#else
  return BNN_ISA_REF;
#endif
}

static int streq(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

int bnn_selected_isa(void) {
  int best = bnn_best_isa();
  const char* env = getenv("BNN_ISA");
  if (!env || !*env) return best;
  int want = streq(env, "ref") ? BNN_ISA_REF
             : streq(env, "avx2") ? BNN_ISA_AVX2
             : streq(env, "avx512") ? BNN_ISA_AVX512
             : streq(env, "neon") ? BNN_ISA_NEON
                                  : best;
  /* Never select what the CPU cannot run: avx2 is allowed under avx512. */
  if (want == BNN_ISA_REF) return want;
  if (want == best) return want;
  if (want == BNN_ISA_AVX2 && best == BNN_ISA_AVX512) return want;
  return best;
}

bnn_tile_fn bnn_tile_for(int isa, int nc) {
  switch (isa) {
#if defined(__x86_64__)
    case BNN_ISA_AVX2: return bnn_tile_avx2_for(nc);
    case BNN_ISA_AVX512: return bnn_tile_avx512_for(nc);
#endif
#if defined(__aarch64__)
    case BNN_ISA_NEON: return bnn_tile_neon_for(nc);
#endif
    default: return bnn_tile_ref;
  }
}

/* ------------------------------------------------------------------ thread pool */
/* Binary MACs worth a thread: waking the tiny pool's sleeping helper costs tens of microseconds
 * (~30 us of AVX-512 work); XNNPACK's workers, which the delegate shares, spin between ops and
 * join within a microsecond or two (2 threads: 1.75x faster than 1 with 1e6, 1.2x with 3e7). */
#ifndef BNN_MIN_BMACS_PER_THREAD
#define BNN_MIN_BMACS_PER_THREAD 3.0e7
#endif
#ifndef BNN_MIN_BMACS_PER_SHARED_THREAD
#define BNN_MIN_BMACS_PER_SHARED_THREAD 1.0e6
#endif
#if defined(BNN_NO_THREADS)
void bnn_parallel_for(int n, int threads, bnn_task_fn fn, void* ctx) {
  (void)threads;
  for (int i = 0; i < n; ++i) fn(ctx, i);
}
void bnn_use_pool(void* pool, bnn_parallelize_1d_fn parallelize) { (void)pool, (void)parallelize; }
double bnn_min_work_per_thread(void) { return BNN_MIN_BMACS_PER_THREAD; }
#else
static _Thread_local void* ext_pool = 0;
static _Thread_local bnn_parallelize_1d_fn ext_parallelize = 0;

void bnn_use_pool(void* pool, bnn_parallelize_1d_fn parallelize) {
  ext_pool = pool && parallelize ? pool : 0;
  ext_parallelize = pool ? parallelize : 0;
}

double bnn_min_work_per_thread(void) {
  return ext_pool ? BNN_MIN_BMACS_PER_SHARED_THREAD : BNN_MIN_BMACS_PER_THREAD;
}

typedef struct {
  bnn_task_fn fn;
  void* ctx;
} ext_task;

static void ext_run(void* v, size_t i) {
  const ext_task* t = (const ext_task*)v;
  t->fn(t->ctx, (int)i);
}

#define BNN_MAX_WORKERS 63
#ifndef BNN_SPIN
#define BNN_SPIN 500 /* short: XNNPACK's own workers share these cores */
#endif
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;   /* one job at a time */
static pthread_mutex_t pool_state = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static int pool_workers = 0;
static atomic_int pool_gen = 0;
static atomic_int pool_next = 0;
static atomic_int pool_helpers = 0; /* helpers that may still join the current job */
static atomic_int pool_busy = 0;    /* helpers working on the current job */
static int pool_n = 0;
static bnn_task_fn pool_fn = 0;
static void* pool_ctx = 0;

static void pool_drain(void) {
  for (;;) {
    int i = atomic_fetch_add(&pool_next, 1);
    if (i >= pool_n) break;
    pool_fn(pool_ctx, i);
  }
}

static void* pool_main(void* arg) {
  (void)arg;
  int seen = atomic_load(&pool_gen);
  for (;;) {
    /* spin briefly: consecutive ops of one inference come microseconds apart */
    int spins = 0;
    while (atomic_load_explicit(&pool_gen, memory_order_acquire) == seen && spins < BNN_SPIN) {
      ++spins;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ __volatile__("yield");
#endif
    }
    if (atomic_load_explicit(&pool_gen, memory_order_acquire) == seen) {
      pthread_mutex_lock(&pool_state);
      while (atomic_load(&pool_gen) == seen) pthread_cond_wait(&pool_wake, &pool_state);
      pthread_mutex_unlock(&pool_state);
    }
    seen = atomic_load(&pool_gen);
    if (atomic_fetch_sub(&pool_helpers, 1) > 0) {
      atomic_fetch_add(&pool_busy, 1);
      pool_drain();
      if (atomic_fetch_sub(&pool_busy, 1) == 1) {
        pthread_mutex_lock(&pool_state);
        pthread_cond_signal(&pool_done);
        pthread_mutex_unlock(&pool_state);
      }
    }
  }
  return 0;
}

void bnn_parallel_for(int n, int threads, bnn_task_fn fn, void* ctx) {
  if (ext_pool && threads > 1 && n > 1) {
    ext_task t = {fn, ctx};
    ext_parallelize(ext_pool, ext_run, &t, (size_t)n, 0);
    return;
  }
  if (threads > BNN_MAX_WORKERS + 1) threads = BNN_MAX_WORKERS + 1;
  if (threads <= 1 || n <= 1 || pthread_mutex_trylock(&pool_mu) != 0) {
    for (int i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  while (pool_workers < threads - 1) {
    pthread_t t;
    if (pthread_create(&t, 0, pool_main, 0) != 0) break;
    pthread_detach(t);
    ++pool_workers;
  }
  int helpers = threads - 1 < pool_workers ? threads - 1 : pool_workers;
  pool_fn = fn;
  pool_ctx = ctx;
  pool_n = n;
  atomic_store(&pool_next, 0);
  atomic_store(&pool_busy, 0);
  atomic_store(&pool_helpers, helpers);
  pthread_mutex_lock(&pool_state);
  atomic_fetch_add_explicit(&pool_gen, 1, memory_order_release);
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_state);
  pool_drain();
  /* Wait until no helper is inside the job and none can still join it. */
  pthread_mutex_lock(&pool_state);
  atomic_store(&pool_helpers, 0);
  while (atomic_load(&pool_busy) > 0) pthread_cond_wait(&pool_done, &pool_state);
  pthread_mutex_unlock(&pool_state);
  pthread_mutex_unlock(&pool_mu);
}
#endif

/* ------------------------------------------------------------------ bconv */
struct bnn_bconv {
  bnn_bconv_shape s;
  int isa;
  bnn_tile_fn tile;      /* for BNN_TILE channels */
  bnn_tile_fn tile_last; /* for a group's last tile, when it has fewer */
  bnn_pack_affine_fn affine32; /* the float epilogue's sign */
  bnn_task_fn row;             /* bconv_row compiled for the ISA */
  bnn_epi_fn epi;              /* the ISA's float transform + epilogue, or NULL */
  int epi_step;                /* epi takes channel counts that are multiples of this */
  int taps, wpg, cpg, tiles_per_group, K;
  int tile_taps, tile_words; /* what the inner kernel runs per pixel: taps x wpg, or merged rows */
  int merge_bits;     /* > 0: merged rows (below), the channels in each pixel's last word */
  int planes;         /* 1, or 2 for AVX2: each weight word as its low and high nibbles (bnn_x86.c) */
  int hp, wp, pad_bottom, pad_right; /* padded input: hp x wp pixels, one-padding (bits 0) */
  uint32_t* w;        /* [groups][tiles][tile_taps][tile_words][planes][BNN_TILE] */
  int32_t* tap_off;   /* [tile_taps] word offset of each tap in the padded input */
  int32_t* tap_sum;   /* [out_c][taps]: sum of the filter's +-1 at each tap (zero padding) */
  float* mul;         /* [out_c] -mul (int8 output: divided by the output scale) */
  float* bias;        /* [out_c] bias + K * mul (int8 output: scaled, plus the zero point) */
  float* corr_mul;    /* [out_c] -mul: zero-padding correction factor */
  int32_t x_min, x_max; /* clamp bounds on 2 * popcount */
  int32_t* thr;       /* [out_c] */
  uint32_t* padded;   /* [batch][hp][wp][in_words], NULL when neither padding nor merged rows */
  uint32_t* hi;       /* merged rows: [wp + k_w], 0 outside the input's columns */
};

/* Merged rows. When a pixel has 2 words, the second holding r = channels_in % 32 channels, and a
 * kernel row's k_w last words fit one word (k_w * r <= 32; one group, stride_w = dil_w = 1), the
 * staged input keeps each pixel's first word and replaces its second by the second words of the
 * k_w pixels that start there, side by side (pixel x + kx's at bit kx * r); the weights are
 * merged the same way. The inner kernel then runs k_h * k_w one-word taps (the first words) and
 * k_h merged taps instead of k_h * k_w two-word taps: a third fewer popcounts for 40 channels and
 * a 3x3 kernel. Unused bits are 0 in input and weights, so they never count: the popcounts are
 * the same. BNN_MERGE_ROWS=0 turns it off (tests, benchmarks). */
static int merge_bits_for(const bnn_bconv_shape* s) {
  const int r = s->channels_in % 32;
  const char* env = getenv("BNN_MERGE_ROWS");
  if (env && env[0] == '0') return 0;
  return s->groups == 1 && s->in_words == 2 && s->k_w > 1 && s->stride_w == 1 && s->dil_w == 1 && r &&
                 s->k_w * r <= 32
             ? r
             : 0;
}

/* Stage the input for merged rows into op->padded (its padding rows and the first words of its
 * padding columns stay 0 from creation), through op->hi: one row's second words between zeros. */
static void stage_merged(const bnn_bconv* op, const uint32_t* in) {
  const bnn_bconv_shape* s = &op->s;
  const int r = op->merge_bits, wp = op->wp;
  uint32_t* hi = op->hi;
  for (int b = 0; b < s->batch; ++b)
    for (int y = 0; y < s->in_h; ++y) {
      const uint32_t* row = in + ((size_t)b * s->in_h + y) * s->in_w * 2;
      uint32_t* o = op->padded + ((size_t)b * op->hp + y + s->pad_top) * wp * 2;
      for (int x = 0; x < s->in_w; ++x) {
        o[2 * (x + s->pad_left)] = row[2 * x];
        hi[x + s->pad_left] = row[2 * x + 1];
      }
      for (int xp = 0; xp < wp; ++xp) {
        uint32_t m = 0;
        for (int kx = 0; kx < s->k_w; ++kx) m |= hi[xp + kx] << (kx * r);
        o[2 * xp + 1] = m;
      }
    }
}

/* One weight word of tile tap `tap`, word k, channel j of the tile at wt (both nibble planes on
 * AVX2). */
static void put_weight(const bnn_bconv* op, uint32_t* wt, int tap, int k, int j, uint32_t v) {
  uint32_t* wk = wt + ((size_t)tap * op->tile_words + k) * op->planes * BNN_TILE + j;
  if (op->planes == 2) {
    wk[0] = v & 0x0f0f0f0fu;
    wk[BNN_TILE] = (v >> 4) & 0x0f0f0f0fu;
  } else {
    wk[0] = v;
  }
}

static bnn_task_fn row_for(int isa);

void bnn_bconv_destroy(bnn_bconv* op) {
  if (!op) return;
  bnn_free(op->w);
  bnn_free(op->tap_off);
  bnn_free(op->tap_sum);
  bnn_free(op->mul);
  bnn_free(op->bias);
  bnn_free(op->corr_mul);
  bnn_free(op->thr);
  bnn_free(op->padded);
  bnn_free(op->hi);
  bnn_free(op);
}

bnn_bconv* bnn_bconv_create(const bnn_bconv_shape* shape, const int32_t* filter,
                            const float* mul, const float* bias, const int32_t* thresholds,
                            float out_scale, int out_zero_point, int isa, const char** err) {
  const bnn_bconv_shape* s = shape;
  *err = 0;
  if (s->groups < 1 || s->out_c < 1 || s->channels_in < 1 || s->k_h < 1 || s->k_w < 1 ||
      s->stride_h < 1 || s->stride_w < 1 || s->dil_h < 1 || s->dil_w < 1 || s->batch < 1 ||
      s->in_h < 1 || s->in_w < 1 || s->out_h < 1 || s->out_w < 1) {
    *err = "non-positive shape or option";
    return 0;
  }
  if ((int64_t)s->k_h * s->k_w > (1 << 20)) {
    *err = "kernels with more than 2^20 taps are not supported";
    return 0;
  }
  if (s->out_kind == BNN_OUT_BITS && s->out_c > 2048) {
    *err = "bit-packed output supports at most 2048 channels";
    return 0;
  }
  if (s->in_words != (s->channels_in + 31) / 32) {
    *err = "input words do not match channels_in";
    return 0;
  }
  if (s->out_c % s->groups != 0 || (s->groups > 1 && (s->channels_in % (32 * s->groups)) != 0)) {
    *err = "groups must divide the output channels, and input channels per group must be a "
           "multiple of 32";
    return 0;
  }
  bnn_bconv* op = (bnn_bconv*)bnn_alloc(sizeof(bnn_bconv));
  if (!op) { *err = "out of memory"; return 0; }
  memset(op, 0, sizeof(*op));
  op->s = *s;
  op->isa = isa;
  op->tile = bnn_tile_for(isa, BNN_TILE);
  op->affine32 = pack_affine_for(isa);
  op->row = row_for(isa);
#if defined(__x86_64__)
  op->epi = isa == BNN_ISA_AVX512 ? bnn_epi_avx512 : isa == BNN_ISA_AVX2 ? bnn_epi_avx2 : 0;
  op->epi_step = isa == BNN_ISA_AVX2 ? 8 : 1;
#endif
#if defined(__aarch64__)
  op->epi = isa == BNN_ISA_NEON ? bnn_epi_neon : 0;
  op->epi_step = 4;
#endif
  op->taps = s->k_h * s->k_w;
  op->wpg = s->in_words / s->groups;
  op->cpg = s->out_c / s->groups;
  op->tiles_per_group = (op->cpg + BNN_TILE - 1) / BNN_TILE;
  op->tile_last = bnn_tile_for(isa, op->cpg - (op->tiles_per_group - 1) * BNN_TILE);
  const int cin_g = s->channels_in / s->groups;
  op->K = op->taps * cin_g;
  /* dot in [act_min, act_max]  <=>  2 * popcount in [K - act_max, K - act_min] */
  op->x_min = s->act_max >= op->K ? 0 : op->K - s->act_max;
  op->x_max = s->act_min <= -op->K ? 2 * op->K : op->K - s->act_min;
  op->planes = isa == BNN_ISA_AVX2 ? 2 : 1;
  op->merge_bits = merge_bits_for(s);
  op->tile_taps = op->merge_bits ? op->taps + s->k_h : op->taps;
  op->tile_words = op->merge_bits ? 1 : op->wpg;
  const size_t wsize =
      (size_t)s->groups * op->tiles_per_group * op->tile_taps * op->tile_words * op->planes * BNN_TILE;
  op->w = (uint32_t*)bnn_alloc(wsize * 4);
  op->tap_sum = (int32_t*)bnn_alloc((size_t)s->out_c * op->taps * 4);
  op->mul = (float*)bnn_alloc((size_t)s->out_c * 4);
  op->bias = (float*)bnn_alloc((size_t)s->out_c * 4);
  op->thr = (int32_t*)bnn_alloc((size_t)s->out_c * 4);
  op->corr_mul = (float*)bnn_alloc((size_t)s->out_c * 4);
  op->tap_off = (int32_t*)bnn_alloc((size_t)op->tile_taps * 4);
  /* pad so that every tap of every output pixel lies inside the padded input */
  const int keh = (s->k_h - 1) * s->dil_h + 1, kew = (s->k_w - 1) * s->dil_w + 1;
  op->pad_bottom = (s->out_h - 1) * s->stride_h + keh - s->in_h - s->pad_top;
  op->pad_right = (s->out_w - 1) * s->stride_w + kew - s->in_w - s->pad_left;
  if (op->pad_bottom < 0) op->pad_bottom = 0;
  if (op->pad_right < 0) op->pad_right = 0;
  if (s->pad_top < 0 || s->pad_left < 0 || s->pad_top >= keh || s->pad_left >= kew) {
    bnn_bconv_destroy(op);
    *err = "invalid padding";
    return 0;
  }
  op->hp = s->in_h + s->pad_top + op->pad_bottom;
  op->wp = s->in_w + s->pad_left + op->pad_right;
  const size_t padded_words = (size_t)s->batch * op->hp * op->wp * s->in_words;
  /* a staging copy of the input: padded, or with merged rows */
  const int need_staging = s->pad_top || s->pad_left || op->pad_bottom || op->pad_right || op->merge_bits;
  if (padded_words > ((size_t)1 << 31)) {
    bnn_bconv_destroy(op);
    *err = "input too large";
    return 0;
  }
  if (need_staging) op->padded = (uint32_t*)bnn_alloc(padded_words * 4);
  if (op->merge_bits) op->hi = (uint32_t*)bnn_alloc(((size_t)op->wp + s->k_w) * 4);
  if (!op->w || !op->tap_sum || !op->mul || !op->bias || !op->thr || !op->corr_mul || !op->tap_off ||
      (need_staging && !op->padded) || (op->merge_bits && !op->hi)) {
    bnn_bconv_destroy(op);
    *err = "out of memory";
    return 0;
  }
  memset(op->w, 0, wsize * 4);
  if (op->padded) memset(op->padded, 0, padded_words * 4);
  if (op->hi) memset(op->hi, 0, ((size_t)op->wp + s->k_w) * 4);
  for (int ky = 0, t = 0; ky < s->k_h; ++ky)
    for (int kx = 0; kx < s->k_w; ++kx, ++t)
      op->tap_off[t] = ((ky * s->dil_h) * op->wp + kx * s->dil_w) * s->in_words;
  for (int ky = 0; ky < s->k_h && op->merge_bits; ++ky)
    op->tap_off[op->taps + ky] = (ky * s->dil_h) * op->wp * s->in_words + 1;
  /* the filter's unused high bits must be 0 so that they never count */
  const uint32_t last_mask =
      (cin_g % 32) ? ((1u << (cin_g % 32)) - 1u) : 0xffffffffu;
  for (int c = 0; c < s->out_c; ++c) {
    const int g = c / op->cpg, lc = c % op->cpg, tile = lc / BNN_TILE, j = lc % BNN_TILE;
    uint32_t* wt =
        op->w + ((size_t)(g * op->tiles_per_group + tile) * op->tile_taps * op->tile_words * op->planes) * BNN_TILE;
    for (int t = 0; t < op->taps; ++t) {
      int pc = 0;
      for (int k = 0; k < op->wpg; ++k) {
        uint32_t v = (uint32_t)filter[((size_t)c * op->taps + t) * op->wpg + k];
        if (k == op->wpg - 1) v &= last_mask;
        if (!op->merge_bits || k == 0) put_weight(op, wt, t, k, j, v);
        pc += popc32(v);
      }
      op->tap_sum[(size_t)c * op->taps + t] = cin_g - 2 * pc;
    }
    for (int ky = 0; ky < s->k_h && op->merge_bits; ++ky) {
      uint32_t m = 0;
      for (int kx = 0; kx < s->k_w; ++kx)
        m |= ((uint32_t)filter[((size_t)c * op->taps + ky * s->k_w + kx) * op->wpg + op->wpg - 1] & last_mask) << (kx * op->merge_bits);
      put_weight(op, wt, op->taps + ky, 0, j, m);
    }
    if (s->out_kind == BNN_OUT_BITS) {
      op->thr[c] = thresholds[c];
      continue;
    }
    double m = mul[c], b = bias[c];
    if (s->out_kind == BNN_OUT_INT8) {
      m = (double)mul[c] / (double)out_scale;
      b = (double)bias[c] / (double)out_scale + (double)out_zero_point;
    }
    op->corr_mul[c] = -1.0f * mul[c];
    op->mul[c] = (float)-m;
    op->bias[c] = (float)(b + (double)op->K * m);
  }
  return op;
}

typedef struct {
  const bnn_bconv* op;
  const uint32_t* in; /* padded (or unpadded when no padding is needed) */
  void* out;
  const bnn_epilogue* e; /* float output: where y goes (NULL: y into out) */
} bconv_job;

static inline int32_t round_half_away(float y) {
  /* std::round semantics (TfLiteRound), without libm */
  return (int32_t)(y >= 0.0f ? y + 0.5f : y - 0.5f);
}

/* Zero-padding correction of one output pixel: sum of the filter over the taps that fall
 * outside the original input. */
static int32_t padded_tap_sum(const bnn_bconv* op, int oy, int ox, int c) {
  const bnn_bconv_shape* s = &op->s;
  const int32_t* ts = op->tap_sum + (size_t)c * op->taps;
  int32_t corr = 0;
  for (int ky = 0, t = 0; ky < s->k_h; ++ky) {
    const int iy = oy * s->stride_h - s->pad_top + ky * s->dil_h;
    for (int kx = 0; kx < s->k_w; ++kx, ++t) {
      const int ix = ox * s->stride_w - s->pad_left + kx * s->dil_w;
      if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w) corr += ts[t];
    }
  }
  return corr;
}

/* The float output's epilogue for output pixel `opix`, channels c0 .. c0 + nc of y:
 * y itself, y + residual at a channel offset, and the bits of y * scale + shift < 0 (ORed into
 * `bits`, the pixel's packed words). Each float operation rounds as TFLite's ADD / MUL do. */
static inline void epilogue(const bnn_epilogue* e, bnn_pack_affine_fn affine32, size_t opix, int c0, int nc,
                            const float* y, uint32_t* bits) {
  if (e->y) {
    float* restrict o = e->y + opix * (size_t)e->y_stride + c0;
    for (int j = 0; j < nc; ++j) o[j] = y[j];
  }
  if (e->sum) {
    float* restrict o = e->sum + opix * (size_t)e->sum_stride + c0;
    if (e->residual) {
      const float* restrict r = e->residual + opix * (size_t)e->sum_stride + c0;
      for (int j = 0; j < nc; ++j) o[j] = y[j] + r[j];
    } else {
      for (int j = 0; j < nc; ++j) o[j] = y[j];
    }
  }
  if (e->bits) {
    const float* restrict sc = e->scale + c0;
    const float* restrict sh = e->shift + c0;
    if (!(c0 & 31)) { /* the word's first channel: the ISA's packing, on a full word */
      uint32_t word;
      if (nc == 32) {
        affine32(y, sc, sh, 1, &word);
      } else { /* padded with 0 * 0 + 0, which is not < 0: bit 0 */
        float py[32], ps[32], pt[32];
        for (int j = 0; j < nc; ++j) py[j] = y[j], ps[j] = sc[j], pt[j] = sh[j];
        for (int j = nc; j < 32; ++j) py[j] = ps[j] = pt[j] = 0.0f;
        affine32(py, ps, pt, 1, &word);
      }
      bits[c0 >> 5] |= word;
      return;
    }
    for (int j = 0; j < nc; ++j) {
      const float m = y[j] * sc[j];
      bits[(c0 + j) >> 5] |= (uint32_t)(m + sh[j] < 0.0f) << ((c0 + j) & 31);
    }
  }
}

/* One output row: the inner kernel over its pixels, then the output transform and epilogue. An
 * always-inline body, compiled once per x86 ISA below so that the transform uses its vectors. */
static inline __attribute__((always_inline)) void bconv_row_body(void* vctx, int row, const int tile_epi) {
  const bconv_job* job = (const bconv_job*)vctx;
  const bnn_epilogue* e = job->e;
  const bnn_bconv* op = job->op;
  const bnn_bconv_shape* s = &op->s;
  const int b = row / s->out_h, oy = row % s->out_h;
  const int taps = op->tile_taps;
  const uint32_t* in = job->in + (size_t)b * op->hp * op->wp * s->in_words;
  int32_t acc[BNN_MAXP * BNN_TILE];
  uint32_t bits[BNN_MAXP * 64];
  const int out_words = (s->out_c + 31) / 32;
  const size_t out_pix0 = (size_t)row * s->out_w;
  const ptrdiff_t pix_step = (ptrdiff_t)s->stride_w * s->in_words;
  const int row_border = oy * s->stride_h < s->pad_top ||
                         oy * s->stride_h - s->pad_top + (s->k_h - 1) * s->dil_h >= s->in_h;

  for (int ox0 = 0; ox0 < s->out_w; ox0 += BNN_MAXP) {
    const int np = s->out_w - ox0 < BNN_MAXP ? s->out_w - ox0 : BNN_MAXP;
    if (s->out_kind == BNN_OUT_BITS || (e && e->bits)) memset(bits, 0, sizeof(uint32_t) * np * out_words);
    const uint32_t* base = in + ((size_t)(oy * s->stride_h) * op->wp + (size_t)ox0 * s->stride_w) * s->in_words;
    for (int g = 0; g < s->groups; ++g) {
      for (int tile = 0; tile < op->tiles_per_group; ++tile) {
        const uint32_t* wt =
            op->w + ((size_t)(g * op->tiles_per_group + tile) * taps * op->tile_words * op->planes) * BNN_TILE;
        const int c0 = g * op->cpg + tile * BNN_TILE;
        const int nc = op->cpg - tile * BNN_TILE < BNN_TILE ? op->cpg - tile * BNN_TILE : BNN_TILE;
        const float* restrict mul = op->mul + c0;
        const float* restrict bias = op->bias + c0;
        const int32_t x_min = op->x_min, x_max = op->x_max;
        /* the ISA's vector transform and epilogue: one-padded float output, a whole word's channels */
        const int vec_epi = s->out_kind == BNN_OUT_FLOAT && !s->zero_padding && !(c0 & 31);
        const bnn_epi_args ea = {acc, np, nc, c0, out_pix0 + ox0, mul, bias, x_min, x_max, e,
                                 e ? 0 : (float*)job->out + c0, s->out_c, bits, out_words};
#if defined(__x86_64__)
        if (tile_epi && vec_epi && !(nc % 16)) { /* bconv_row_avx512 */
          bnn_tile_epi_avx512(base + g * op->wpg, pix_step, op->tap_off, taps, op->tile_words, wt, &ea);
          continue;
        }
#else
        (void)tile_epi;
#endif
        (nc < BNN_TILE ? op->tile_last : op->tile)(base + g * op->wpg, pix_step, op->tap_off, np, taps, op->tile_words, wt, acc);
        if (vec_epi && op->epi && !(nc % op->epi_step)) {
          op->epi(&ea);
          continue;
        }
        for (int p = 0; p < np; ++p) {
          const int32_t* restrict a = acc + p * BNN_TILE;
          const size_t opix = out_pix0 + ox0 + p;
          const int ox = ox0 + p;
          const int fix = s->zero_padding &&
                          (row_border || ox * s->stride_w < s->pad_left ||
                           ox * s->stride_w - s->pad_left + (s->k_w - 1) * s->dil_w >= s->in_w);
          if (s->out_kind == BNN_OUT_BITS) {
            const int32_t* thr = op->thr + c0;
            for (int j = 0; j < nc; ++j)
              if (a[j] > thr[j]) bits[p * out_words + ((c0 + j) >> 5)] |= 1u << ((c0 + j) & 31);
          } else if (s->out_kind == BNN_OUT_FLOAT) {
            /* LCE's arithmetic, so that results match its interpreter bit for bit:
             * y = float(clamp(2 * popcount)) * (-mul) + (bias + K * mul), the clamp of the dot
             * product (K - 2 * popcount) moved onto 2 * popcount; zero padding then adds
             * (-mul) * (sum of the filter over the padded taps). */
            float y[BNN_TILE];
            for (int j = 0; j < nc; ++j) {
              int32_t x2 = 2 * a[j];
              x2 = x2 < x_min ? x_min : x2 > x_max ? x_max : x2;
              y[j] = (float)x2 * mul[j] + bias[j];
            }
            if (fix)
              for (int j = 0; j < nc; ++j)
                y[j] += op->corr_mul[c0 + j] * (float)padded_tap_sum(op, oy, ox, c0 + j);
            if (e && e->alpha) {
              const float* restrict al = e->alpha + c0;
              for (int j = 0; j < nc; ++j) y[j] = __builtin_signbit(y[j]) ? y[j] * al[j] : y[j];
            }
            if (!e) {
              float* restrict o = (float*)job->out + opix * s->out_c + c0;
              for (int j = 0; j < nc; ++j) o[j] = y[j];
            } else {
              epilogue(e, op->affine32, opix, c0, nc, y, bits + p * out_words);
            }
          } else {
            int8_t* restrict o = (int8_t*)job->out + opix * s->out_c + c0;
            for (int j = 0; j < nc; ++j) {
              int32_t x2 = 2 * a[j];
              if (fix) x2 += padded_tap_sum(op, oy, ox, c0 + j); /* exact, in the integer domain */
              x2 = x2 < x_min ? x_min : x2 > x_max ? x_max : x2;
              int32_t q = round_half_away((float)x2 * mul[j] + bias[j]);
              o[j] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
            }
          }
        }
      }
    }
    int32_t* bits_out = s->out_kind == BNN_OUT_BITS ? (int32_t*)job->out : e ? e->bits : 0;
    if (bits_out) {
      for (int p = 0; p < np; ++p)
        memcpy(bits_out + (out_pix0 + ox0 + p) * out_words, bits + p * out_words, 4 * (size_t)out_words);
    }
  }
}

static void bconv_row(void* vctx, int row) { bconv_row_body(vctx, row, 0); }
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void bconv_row_avx2(void* vctx, int row) { bconv_row_body(vctx, row, 0); }
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2"))) static void bconv_row_avx512(void* vctx, int row) {
  bconv_row_body(vctx, row, 1);
}
#endif

static bnn_task_fn row_for(int isa) {
  switch (isa) {
#if defined(__x86_64__)
    case BNN_ISA_AVX2: return bconv_row_avx2;
    case BNN_ISA_AVX512: return bconv_row_avx512;
#endif
    default: return bconv_row;
  }
}

static void bconv_run(const bnn_bconv* op, const int32_t* input, void* output, const bnn_epilogue* e,
                      int threads);

void bnn_bconv_run(const bnn_bconv* op, const int32_t* input, void* output, int threads) {
  bconv_run(op, input, output, 0, threads);
}

int bnn_bconv_run_epilogue(const bnn_bconv* op, const int32_t* input, const bnn_epilogue* e, int threads) {
  if (op->s.out_kind != BNN_OUT_FLOAT || (e->bits && op->s.out_c > 2048)) return -1;
  bconv_run(op, input, 0, e, threads);
  return 0;
}

static void bconv_run(const bnn_bconv* op, const int32_t* input, void* output, const bnn_epilogue* e,
                      int threads) {
  const bnn_bconv_shape* s = &op->s;
  const uint32_t* in = (const uint32_t*)input;
  if (op->merge_bits) {
    stage_merged(op, in);
    in = op->padded;
  } else if (op->padded) { /* copy the input into the middle of the padded buffer; borders stay 0 */
    const size_t row_words = (size_t)s->in_w * s->in_words;
    for (int b = 0; b < s->batch; ++b)
      for (int y = 0; y < s->in_h; ++y)
        memcpy(op->padded + (((size_t)b * op->hp + y + s->pad_top) * op->wp + s->pad_left) * s->in_words,
               in + ((size_t)b * s->in_h + y) * row_words, row_words * 4);
    in = op->padded;
  }
  bconv_job job = {op, in, output, e};
  /* split only convolutions with enough work per thread */
  const double bmacs = (double)s->batch * s->out_h * s->out_w * s->out_c * op->K;
  const int useful = (int)(bmacs / bnn_min_work_per_thread());
  if (threads > useful) threads = useful < 1 ? 1 : useful;
  bnn_parallel_for(s->batch * s->out_h, threads, op->row, &job);
}

/* ------------------------------------------------------------------ quantize / dequantize */
typedef struct {
  const void* in;
  int channels, words, zero_point, rows_per_task, pixels;
  int32_t* out;
  bnn_pack_fn pack32;
  const float *scale, *shift; /* bnn_pack_affine */
  bnn_pack_affine_fn affine32;
} pack_job;

/* Float rows, or (scale set) float rows through x * scale + shift, the product and the sum each
 * rounded (bnn_pack_affine). */
static void pack_float_task(void* vctx, int i) {
  const pack_job* j = (const pack_job*)vctx;
  const int p0 = i * j->rows_per_task;
  const int p1 = p0 + j->rows_per_task < j->pixels ? p0 + j->rows_per_task : j->pixels;
  const int full = j->channels / 32;
  for (int p = p0; p < p1; ++p) {
    const float* x = (const float*)j->in + (size_t)p * j->channels;
    int32_t* o = j->out + (size_t)p * j->words;
    if (j->scale) j->affine32(x, j->scale, j->shift, full, (uint32_t*)o);
    else j->pack32(x, full, (uint32_t*)o);
    if (full < j->words) { /* last, partial word */
      uint32_t v = 0;
      const int c0 = full * 32, n = j->channels - c0;
      for (int k = 0; k < n; ++k) {
        float y = x[c0 + k];
        if (j->scale) {
          const float m = y * j->scale[c0 + k];
          y = m + j->shift[c0 + k];
        }
        v |= (uint32_t)(y < 0.0f) << k;
      }
      o[full] = (int32_t)v;
    }
  }
}

static void pack_int8_task(void* vctx, int i) {
  const pack_job* j = (const pack_job*)vctx;
  const int p0 = i * j->rows_per_task;
  const int p1 = p0 + j->rows_per_task < j->pixels ? p0 + j->rows_per_task : j->pixels;
  for (int p = p0; p < p1; ++p) {
    const int8_t* x = (const int8_t*)j->in + (size_t)p * j->channels;
    int32_t* o = j->out + (size_t)p * j->words;
    for (int w = 0; w < j->words; ++w) {
      uint32_t v = 0;
      const int c0 = w * 32, n = j->channels - c0 < 32 ? j->channels - c0 : 32;
      for (int k = 0; k < n; ++k) v |= (uint32_t)((int)x[c0 + k] < j->zero_point) << k;
      o[w] = (int32_t)v;
    }
  }
}

static void run_pack(const void* in, int pixels, int channels, int zp, int32_t* out, int threads,
                     bnn_task_fn fn, int isa) {
  pack_job j = {in, channels, (channels + 31) / 32, zp, 256, pixels, out, pack_for(isa), 0, 0, 0};
  bnn_parallel_for((pixels + 255) / 256, threads, fn, &j);
}

void bnn_pack_affine(const float* in, int pixels, int channels, const float* scale, const float* shift,
                     int32_t* out, int threads, int isa) {
  pack_job j = {in,  channels, (channels + 31) / 32, 0, 256, pixels, out, pack_for(isa),
                scale, shift, pack_affine_for(isa)};
  bnn_parallel_for((pixels + 255) / 256, threads, pack_float_task, &j);
}

void bnn_pack_float(const float* in, int pixels, int channels, int32_t* out, int threads, int isa) {
  run_pack(in, pixels, channels, 0, out, threads, pack_float_task, isa);
}

void bnn_pack_int8(const int8_t* in, int pixels, int channels, int zero_point, int32_t* out,
                   int threads) {
  run_pack(in, pixels, channels, zero_point, out, threads, pack_int8_task, BNN_ISA_REF);
}

void bnn_unpack_float(const int32_t* in, int pixels, int channels, float* out) {
  const int words = (channels + 31) / 32;
  for (int p = 0; p < pixels; ++p)
    for (int c = 0; c < channels; ++c)
      out[(size_t)p * channels + c] =
          ((uint32_t)in[(size_t)p * words + (c >> 5)] >> (c & 31)) & 1u ? -1.0f : 1.0f;
}

void bnn_unpack_int8(const int32_t* in, int pixels, int channels, int8_t plus_one,
                     int8_t minus_one, int8_t* out) {
  const int words = (channels + 31) / 32;
  for (int p = 0; p < pixels; ++p)
    for (int c = 0; c < channels; ++c)
      out[(size_t)p * channels + c] =
          ((uint32_t)in[(size_t)p * words + (c >> 5)] >> (c & 31)) & 1u ? minus_one : plus_one;
}

/* ------------------------------------------------------------------ concatenation + add */
typedef struct {
  const float* const* parts;
  const int *part_c, *mode;
  int n_parts, channels, pixels, rows_per_task;
  const float* residual;
  float* out;
} concat_add_job;

static void concat_add_task(void* vctx, int i) {
  const concat_add_job* j = (const concat_add_job*)vctx;
  const int p0 = i * j->rows_per_task;
  const int p1 = p0 + j->rows_per_task < j->pixels ? p0 + j->rows_per_task : j->pixels;
  for (int p = p0; p < p1; ++p) {
    const float* restrict r = j->residual + (size_t)p * j->channels;
    float* o = j->out + (size_t)p * j->channels;
    for (int k = 0, off = 0; k < j->n_parts; off += j->part_c[k], ++k) {
      if (j->mode[k] == 0) {
        const float* restrict y = j->parts[k] + (size_t)p * j->part_c[k];
        for (int c = 0; c < j->part_c[k]; ++c) o[off + c] = y[c] + r[off + c];
      } else if (j->mode[k] == 1) {
        for (int c = 0; c < j->part_c[k]; ++c) o[off + c] = o[off + c] + r[off + c];
      }
    }
  }
}

void bnn_concat_add(const float* const* parts, const int* part_c, const int* mode, int n_parts,
                    const float* residual, int pixels, float* out, int threads) {
  int channels = 0, work = 0;
  for (int k = 0; k < n_parts; ++k) channels += part_c[k], work |= mode[k] != 2;
  if (!work) return;
  concat_add_job j = {parts, part_c, mode, n_parts, channels, pixels, 256, residual, out};
  bnn_parallel_for((pixels + 255) / 256, threads, concat_add_task, &j);
}

/* ------------------------------------------------------------------ max pools (binary, float) */
typedef struct {
  const void* in;
  void* out;
  int n; /* values per pixel: packed words (binary) or channels (float) */
  int in_h, in_w, f_h, f_w, s_h, s_w, pad_top, pad_left, out_h, out_w;
} pool_job;

/* Output pixel (oy, ox)'s window clipped to the input: rows y[0] .. y[1] - 1, columns x[0] ..
 * x[1] - 1 (empty when it misses the input). */
static void pool_window(const pool_job* j, int oy, int ox, int y[2], int x[2]) {
  y[0] = oy * j->s_h - j->pad_top, x[0] = ox * j->s_w - j->pad_left;
  y[1] = y[0] + j->f_h < j->in_h ? y[0] + j->f_h : j->in_h;
  x[1] = x[0] + j->f_w < j->in_w ? x[0] + j->f_w : j->in_w;
  y[0] = y[0] > 0 ? y[0] : 0, x[0] = x[0] > 0 ? x[0] : 0;
}

static void pool_row(void* vctx, int row) {
  const pool_job* j = (const pool_job*)vctx;
  const int b = row / j->out_h, oy = row % j->out_h;
  for (int ox = 0; ox < j->out_w; ++ox) {
    int32_t* o = (int32_t*)j->out + ((size_t)row * j->out_w + ox) * j->n;
    int y[2], x[2];
    pool_window(j, oy, ox, y, x);
    const int32_t all = y[0] < y[1] && x[0] < x[1] ? -1 : 0; /* all bits set: AND identity */
    for (int w = 0; w < j->n; ++w) o[w] = all;
    for (int iy = y[0]; iy < y[1]; ++iy)
      for (int ix = x[0]; ix < x[1]; ++ix) {
        const int32_t* in = (const int32_t*)j->in + (((size_t)b * j->in_h + iy) * j->in_w + ix) * j->n;
        for (int w = 0; w < j->n; ++w) o[w] &= in[w];
      }
  }
}

void bnn_maxpool(const int32_t* in, int batch, int in_h, int in_w, int words, int f_h, int f_w,
                 int s_h, int s_w, int pad_top, int pad_left, int out_h, int out_w,
                 int32_t* out, int threads) {
  pool_job j = {in, out, words, in_h, in_w, f_h, f_w, s_h, s_w, pad_top, pad_left, out_h, out_w};
  bnn_parallel_for(batch * out_h, threads, pool_row, &j);
}

/* ------------------------------------------------------------------ float max pool, upsample + add */
/* Float elements below which a pass stays on one thread: waking a helper costs more. */
#define BNN_MIN_FLOATS_PER_SPLIT 32768

static int split_threads(int64_t floats, int threads) { return floats < BNN_MIN_FLOATS_PER_SPLIT ? 1 : threads; }

/* The first of equal inputs stays (x > o), as the window is read row by row. */
static void pool_f32_row(void* vctx, int row) {
  const pool_job* j = (const pool_job*)vctx;
  const int b = row / j->out_h, oy = row % j->out_h, c = j->n;
  for (int ox = 0; ox < j->out_w; ++ox) {
    float* restrict o = (float*)j->out + ((size_t)row * j->out_w + ox) * c;
    int y[2], x[2];
    pool_window(j, oy, ox, y, x);
    if (y[0] >= y[1] || x[0] >= x[1]) {
      for (int k = 0; k < c; ++k) o[k] = 0.0f;
      continue;
    }
    for (int iy = y[0]; iy < y[1]; ++iy)
      for (int ix = x[0]; ix < x[1]; ++ix) {
        const float* restrict in = (const float*)j->in + (((size_t)b * j->in_h + iy) * j->in_w + ix) * c;
        if (iy == y[0] && ix == x[0])
          for (int k = 0; k < c; ++k) o[k] = in[k];
        else
          for (int k = 0; k < c; ++k) o[k] = in[k] > o[k] ? in[k] : o[k];
      }
  }
}

void bnn_maxpool_f32(const float* in, int batch, int in_h, int in_w, int channels, int f_h, int f_w, int s_h,
                     int s_w, int pad_top, int pad_left, int out_h, int out_w, float* out, int threads) {
  pool_job j = {in, out, channels, in_h, in_w, f_h, f_w, s_h, s_w, pad_top, pad_left, out_h, out_w};
  threads = split_threads((int64_t)batch * out_h * out_w * channels * f_h * f_w, threads);
  bnn_parallel_for(batch * out_h, threads, pool_f32_row, &j);
}

typedef struct {
  const float *low, *skip;
  float* out;
  int low_h, low_w, f_h, f_w, channels, out_h, out_w;
} upsample_add_job;

static void upsample_add_row(void* vctx, int row) {
  const upsample_add_job* j = (const upsample_add_job*)vctx;
  const int b = row / j->out_h, oy = row % j->out_h, c = j->channels;
  const size_t o0 = (size_t)row * j->out_w * c;
  const float* lrow = j->low + ((size_t)b * j->low_h + oy / j->f_h) * j->low_w * c;
  for (int ox = 0; ox < j->out_w; ++ox) {
    const float* restrict l = lrow + (size_t)(ox / j->f_w) * c;
    const float* restrict s = j->skip + o0 + (size_t)ox * c;
    float* restrict o = j->out + o0 + (size_t)ox * c;
    for (int k = 0; k < c; ++k) o[k] = l[k] + s[k];
  }
}

void bnn_upsample_add(const float* low, int batch, int low_h, int low_w, int channels, int f_h, int f_w,
                      const float* skip, float* out, int threads) {
  upsample_add_job j = {low, skip, out, low_h, low_w, f_h, f_w, channels, low_h * f_h, low_w * f_w};
  threads = split_threads((int64_t)batch * j.out_h * j.out_w * channels, threads);
  bnn_parallel_for(batch * j.out_h, threads, upsample_add_row, &j);
}
