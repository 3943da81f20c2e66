/* The fusing delegate: the float tail between binary convolutions folded into fewer passes.
 *
 * An LCE-converted hourglass spends most of its non-binary time between binary convolutions:
 *   y = LceBconv2d(bits)                    float [.., C], written out
 *   MUL(y, scale) -> ADD(., shift) -> LceQuantize       the next layer's batch norm + sign
 *   CONCATENATION(y_0, y_1, y_2) -> ADD(., residual)    the block's output
 * each a pass over memory and (at 2 threads) a hand-off to XNNPACK's thread pool. This delegate
 * claims those ops and runs them as units of one delegate kernel per connected region:
 *   UNIT_BN_SIGN     MUL -> ADD -> LceQuantize as one pass (bnn_pack_affine)
 *   UNIT_CONCAT_ADD  CONCATENATION -> ADD as one pass (bnn_concat_add)
 *   UNIT_MAX_POOL    a float MAX_POOL_2D (bnn_maxpool_f32)
 *   UNIT_UPSAMPLE_ADD  RESIZE_NEAREST_NEIGHBOR by integer factors -> ADD as one pass
 *                    (bnn_upsample_add): the hourglass' merge
 *   UNIT_BCONV       an LceBconv2d (the project's kernel) whose output epilogue does its readers'
 *                    work: a PRELU that is its only reader (y is then the PRELU's output), the
 *                    sign of the next batch norm as bits, and y (+ residual) straight into its
 *                    slice of the block output; y itself is written only if something else
 *                    reads it.
 * Claiming the pools and merges too keeps an hourglass' body in one partition: each XNNPACK
 * partition ends by sending the shared pool's workers to sleep (XNN_FLAG_YIELD_WORKERS), and the
 * next parallel op waited for them to wake up.
 * Every float operation rounds as the TFLite op it replaces (a product and a sum each rounded,
 * no FMA), so the outputs are bit for bit those of the plain model, which stays the LCE
 * flatbuffer (a max pool keeps the first of equal inputs: -0 and +0 in one window are the one
 * case where XNNPACK's pools, which differ between ISAs there, may give the other zero).
 * Intermediate tensors that are model outputs (read from the flatbuffer by bnn_delegate_create)
 * are never fused away.
 *
 * Apply it before XNNPACK (tflite-runtime applies its default XNNPACK delegate after the user's;
 * the C API layer adds this one first). BNN_FUSE=0 turns it off (for comparisons). */
#include "bnn.h"
#include "bnn_glue.h"
#include "tflite_abi.h"

#ifndef BNN_FREESTANDING
#include <string.h>
#else
void* memset(void*, int, size_t);
int strcmp(const char*, const char*);
#endif

enum { UNIT_BN_SIGN = 0, UNIT_CONCAT_ADD = 1, UNIT_BCONV = 2, UNIT_MAX_POOL = 3, UNIT_UPSAMPLE_ADD = 4 };
#define UNIT_MAX_IN 8
/* A unit: the nodes it replaces and the tensors it reads and writes (-1: none). */
typedef struct {
  int kind;
  int nodes[6], n_nodes; /* the first is where the unit runs in the plan */
  int in[UNIT_MAX_IN], n_in; /* BN_SIGN, MAX_POOL: x; CONCAT_ADD: the parts; BCONV: its 5 node
                                inputs; UPSAMPLE_ADD: the low-resolution input, the other addend */
  int scale, shift;          /* BN_SIGN, and a BCONV's folded batch norm + sign: constants */
  int residual;              /* CONCAT_ADD */
  int out;                   /* BN_SIGN: bits; CONCAT_ADD, UPSAMPLE_ADD: the sum; BCONV: y; MAX_POOL */
  int bits;                  /* BCONV: its folded sign's bits */
  int alpha;                 /* BCONV: the folded PRELU's slopes (a constant), or -1 */
  int cat_node, part;        /* BCONV: y is input `part` of this CONCATENATION node (of a CONCAT_ADD) */
  const char* options;       /* BCONV: the node's custom options (in the model's bytes) */
  int options_size;
  TfLitePoolParams pool;     /* MAX_POOL */
  int size;                  /* UPSAMPLE_ADD: the resize's constant [2] int32 output size */
} fused_unit;

typedef struct {
  TfLiteDelegate base; /* first: a TfLiteDelegate* is a bnn_delegate* */
  void* pool;          /* XNNPACK's thread pool and its pthreadpool_parallelize_1d, or NULL */
  bnn_parallelize_1d_fn parallelize;
  int usable;          /* the model has one subgraph and its outputs were read */
  int32_t* keep;       /* the model's output tensors: never fused away */
  int n_keep;
  fused_unit* units; /* found by the last Prepare, in plan order */
  int n_units;
} bnn_delegate;

/* ------------------------------------------------------------------ the model's outputs */
/* A bounds-checked read of subgraph 0's output tensor indices from a TFLite flatbuffer
 * (schema.fbs: Model.subgraphs = field 2, SubGraph.outputs = field 2). */
typedef struct {
  const uint8_t* b;
  size_t n;
  int ok;
} fb_reader;

static uint32_t fb_u32(fb_reader* r, size_t at) {
  if (!r->ok || at > r->n || r->n - at < 4) return r->ok = 0, 0;
  return (uint32_t)r->b[at] | (uint32_t)r->b[at + 1] << 8 | (uint32_t)r->b[at + 2] << 16 |
         (uint32_t)r->b[at + 3] << 24;
}

static uint32_t fb_u16(fb_reader* r, size_t at) {
  if (!r->ok || at > r->n || r->n - at < 2) return r->ok = 0, 0;
  return (uint32_t)r->b[at] | (uint32_t)r->b[at + 1] << 8;
}

/* Position of the uoffset target at `at`. */
static size_t fb_deref(fb_reader* r, size_t at) {
  const size_t to = at + fb_u32(r, at);
  if (to >= r->n) r->ok = 0;
  return r->ok ? to : 0;
}

/* Position of field `f` of the table at `t`, 0 when absent. */
static size_t fb_field(fb_reader* r, size_t t, int f) {
  const int64_t vt = (int64_t)t - (int32_t)fb_u32(r, t);
  if (!r->ok || vt < 0 || (size_t)vt >= r->n) return r->ok = 0, 0;
  if (fb_u16(r, (size_t)vt) < 6 + 2 * (uint32_t)f) return 0;
  const uint32_t off = fb_u16(r, (size_t)vt + 4 + 2 * (size_t)f);
  return off && r->ok ? t + off : 0;
}

/* Subgraph 0's outputs into `out` (at most `cap`); their count, or -1 when the bytes cannot be
 * read or the model has more than one subgraph. */
static int model_outputs(const void* bytes, size_t size, int32_t* out, int cap) {
  fb_reader r = {(const uint8_t*)bytes, size, bytes != 0};
  const size_t model = fb_deref(&r, 0);
  const size_t sgf = fb_field(&r, model, 2);
  if (!sgf) return -1;
  const size_t sgs = fb_deref(&r, sgf);
  if (fb_u32(&r, sgs) != 1) return -1;
  const size_t sg = fb_deref(&r, sgs + 4);
  const size_t of = fb_field(&r, sg, 2);
  if (!of) return r.ok ? 0 : -1;
  const size_t outs = fb_deref(&r, of);
  const uint32_t n = fb_u32(&r, outs);
  if (!r.ok || n > (uint32_t)cap) return -1;
  for (uint32_t i = 0; i < n; ++i) out[i] = (int32_t)fb_u32(&r, outs + 4 + 4 * (size_t)i);
  return r.ok ? (int)n : -1;
}

/* ------------------------------------------------------------------ the fused kernel */
#define OPNAME "BnnFused"
/* How a CONCAT_ADD unit gets part k into its sum. */
enum { PART_COPY = 0, PART_ADD_RESIDUAL = 1, PART_DONE = 2 };

typedef struct {
  fused_unit u;
  int channels;            /* BN_SIGN: of x; CONCAT_ADD: of the sum; BCONV: of y */
  float *scale, *shift;    /* [channels], read in the first Prepare */
  float* alpha;            /* BCONV with a PRELU: [channels], read in the first Prepare */
  int part_c[UNIT_MAX_IN]; /* CONCAT_ADD: channels and offset of each part, and how it gets there */
  int part_off[UNIT_MAX_IN];
  int part_mode[UNIT_MAX_IN];
  int into;                /* BCONV: the CONCAT_ADD unit (index in this partition) it writes into, or -1 */
  int with_residual;       /* BCONV: adds the residual itself (it is ready before this unit runs) */
  int write_y;             /* BCONV: y is read by something else */
  void* bconv;             /* BCONV: an LceBconv2d kernel instance (its user_data) */
  TfLiteIntArray* node_in; /* BCONV: the node's inputs and output, for that instance */
  TfLiteIntArray* node_out;
  void* own[2];            /* outputs (out, bits) that no node outside the partition reads: TFLite */
  size_t own_bytes[2];     /* allocates only a partition's inputs and outputs */
} unit_state;

typedef struct {
  run_cfg cfg;
  void* pool; /* the delegate's */
  bnn_parallelize_1d_fn parallelize;
  int n;
  unit_state* s; /* in plan order */
} fused_data;

static TfLiteIntArray* int_array(const int* v, int n) {
  TfLiteIntArray* a = (TfLiteIntArray*)bnn_alloc(sizeof(int) * (size_t)(n + 1));
  if (!a) return 0;
  a->size = n;
  for (int i = 0; i < n; ++i) a->data[i] = v[i];
  return a;
}

static void fused_free(TfLiteContext* ctx, void* p) {
  fused_data* f = (fused_data*)p;
  if (!f) return;
  for (int i = 0; i < f->n; ++i) {
    unit_state* us = &f->s[i];
    bnn_free(us->scale);
    bnn_free(us->shift);
    bnn_free(us->alpha);
    bnn_free(us->own[0]);
    bnn_free(us->own[1]);
    bnn_free(us->node_in);
    bnn_free(us->node_out);
    if (us->bconv) bnn_bconv_registration()->free(ctx, us->bconv);
  }
  bnn_free(f->s);
  bnn_free(f);
}

static int holds(const TfLiteIntArray* a, int v) {
  for (int i = 0; a && i < a->size; ++i)
    if (a->data[i] == v) return 1;
  return 0;
}

/* Does a unit of the partition other than `skip` read tensor t? */
static int read_in_partition(const fused_data* f, int t, int skip) {
  for (int i = 0; i < f->n; ++i) {
    if (i == skip) continue;
    const fused_unit* u = &f->s[i].u;
    if (u->kind == UNIT_CONCAT_ADD && u->residual == t) return 1;
    for (int k = 0; k < u->n_in; ++k)
      if (u->in[k] == t && !(u->kind == UNIT_CONCAT_ADD && f->s[i].part_mode[k] != PART_COPY)) return 1;
  }
  return 0;
}

/* Wire the units of one partition: which convolution writes into which block output, with or
 * without its residual, and whether y must be written at all. */
static void wire(fused_data* f, const TfLiteIntArray* outputs) {
  for (int v = 0; v < f->n; ++v) {
    unit_state* vs = &f->s[v];
    if (vs->u.kind != UNIT_BCONV) continue;
    vs->into = -1;
    for (int c = v + 1; c < f->n && vs->u.cat_node >= 0; ++c)
      if (f->s[c].u.kind == UNIT_CONCAT_ADD && f->s[c].u.nodes[0] == vs->u.cat_node) {
        vs->into = c;
        vs->with_residual = 1; /* unless a later unit of this partition makes the residual */
        for (int w = v + 1; w < f->n; ++w)
          if (f->s[w].u.out == f->s[c].u.residual || f->s[w].u.bits == f->s[c].u.residual) vs->with_residual = 0;
        f->s[c].part_mode[vs->u.part] = vs->with_residual ? PART_DONE : PART_ADD_RESIDUAL;
      }
  }
  for (int v = 0; v < f->n; ++v) {
    unit_state* vs = &f->s[v];
    if (vs->u.kind == UNIT_BCONV)
      vs->write_y = vs->into < 0 || holds(outputs, vs->u.out) || read_in_partition(f, vs->u.out, v);
  }
}

/* One partition of claimed nodes: the units whose nodes it holds, in plan order (a unit may
 * read what an earlier one of the same partition wrote). */
static void* fused_init(TfLiteContext* ctx, const char* buffer, size_t length) {
  (void)length;
  const TfLiteDelegateParams* p = (const TfLiteDelegateParams*)buffer;
  const bnn_delegate* d = (const bnn_delegate*)p->delegate;
  fused_data* f = (fused_data*)bnn_alloc(sizeof(fused_data));
  if (!f) return 0;
  memset(f, 0, sizeof(*f));
  f->s = (unit_state*)bnn_alloc(sizeof(unit_state) * (size_t)(d->n_units + 1));
  if (!f->s) return bnn_free(f), (void*)0;
  f->pool = d->pool;
  f->parallelize = d->parallelize;
  for (int k = 0; k < d->n_units; ++k) {
    const fused_unit* u = &d->units[k];
    if (!holds(p->nodes_to_replace, u->nodes[0])) continue;
    unit_state* us = &f->s[f->n++];
    memset(us, 0, sizeof(*us));
    us->u = *u;
    us->into = -1;
    if (u->kind == UNIT_BCONV) {
      us->node_in = int_array(u->in, u->n_in);
      us->node_out = int_array(&u->out, 1);
      us->bconv = bnn_bconv_registration()->init(ctx, u->options, (size_t)u->options_size);
      if (!us->node_in || !us->node_out || !us->bconv) return fused_free(ctx, f), (void*)0;
    }
  }
  wire(f, p->output_tensors);
  return f;
}

/* The floats of a constant [C] or [1] tensor, broadcast to `channels`. */
static float* const_channels(const TfLiteTensor* t, int channels) {
  const int64_t n = checked_count(t, 0);
  if (!t || t->type != kTfLiteFloat32 || !data_ok(t) || (n != 1 && n != channels)) return 0;
  float* v = (float*)bnn_alloc(sizeof(float) * (size_t)channels);
  if (!v) return 0;
  for (int i = 0; i < channels; ++i) v[i] = t->data.f[n == 1 ? 0 : i];
  return v;
}

static int last_dim(const TfLiteTensor* t) { return t->dims->data[t->dims->size - 1]; }

/* Same rank and dims except possibly the last. */
static int same_pixels(const TfLiteTensor* a, const TfLiteTensor* b) {
  if (!a->dims || !b->dims || a->dims->size != b->dims->size) return 0;
  for (int i = 0; i + 1 < a->dims->size; ++i)
    if (a->dims->data[i] != b->dims->data[i]) return 0;
  return 1;
}

/* `bits` <- the packed shape of float tensor x (channels words), after the constants. */
static TfLiteStatus prepare_sign(TfLiteContext* ctx, unit_state* us, const TfLiteTensor* x, int bits) {
  if (!us->scale) { /* first Prepare: the constants */
    us->scale = const_channels(&ctx->tensors[us->u.scale], last_dim(x));
    us->shift = const_channels(&ctx->tensors[us->u.shift], last_dim(x));
    ENSURE(us->scale && us->shift, "scale and shift must be float32 constants of [channels] or [1]");
  }
  TfLiteTensor* out = &ctx->tensors[bits];
  ENSURE(out->type == kTfLiteInt32, "output must be int32 (bit-packed)");
  int dims[8];
  const int r = x->dims->size;
  for (int j = 0; j < r; ++j) dims[j] = x->dims->data[j];
  dims[r - 1] = (last_dim(x) + 31) / 32;
  return set_shape(ctx, out, r, dims);
}

static TfLiteStatus prepare_bn_sign(TfLiteContext* ctx, unit_state* us) {
  const TfLiteTensor* x = &ctx->tensors[us->u.in[0]];
  ENSURE(x->type == kTfLiteFloat32 && checked_count(x, 0) > 0, "input must be float32");
  ENSURE(!us->scale || last_dim(x) == us->channels, "input channels changed");
  us->channels = last_dim(x);
  return prepare_sign(ctx, us, x, us->u.out);
}

static TfLiteStatus prepare_concat_add(TfLiteContext* ctx, unit_state* us) {
  const TfLiteTensor* r = &ctx->tensors[us->u.residual];
  ENSURE(r->type == kTfLiteFloat32 && checked_count(r, 0) > 0, "residual must be float32");
  ENSURE(ctx->tensors[us->u.out].type == kTfLiteFloat32, "output must be float32");
  int c = 0;
  for (int i = 0; i < us->u.n_in; ++i) {
    const TfLiteTensor* y = &ctx->tensors[us->u.in[i]];
    ENSURE(y->type == kTfLiteFloat32 && checked_count(y, 0) > 0 && same_pixels(y, r),
           "concatenated inputs must be float32 of the residual's shape but the channels");
    us->part_c[i] = last_dim(y);
    us->part_off[i] = c;
    c += us->part_c[i];
  }
  ENSURE(c == last_dim(r), "concatenated channels must add up to the residual's");
  us->channels = c;
  return set_shape(ctx, &ctx->tensors[us->u.out], r->dims->size, r->dims->data);
}

static TfLiteStatus prepare_bconv(TfLiteContext* ctx, unit_state* us) {
  TfLiteNode node;
  memset(&node, 0, sizeof(node));
  node.inputs = us->node_in;
  node.outputs = us->node_out;
  node.user_data = us->bconv;
  if (bnn_bconv_registration()->prepare(ctx, &node) != kTfLiteOk) return kTfLiteError;
  ENSURE(bnn_bconv_prepared(us->bconv), "fused convolutions read bit-packed input");
  const TfLiteTensor* y = &ctx->tensors[us->u.out];
  ENSURE(y->type == kTfLiteFloat32, "fused convolutions write float32");
  ENSURE(!us->channels || last_dim(y) == us->channels, "output channels changed");
  us->channels = last_dim(y);
  if (us->u.alpha >= 0 && !us->alpha) {
    us->alpha = const_channels(&ctx->tensors[us->u.alpha], us->channels);
    ENSURE(us->alpha, "PRELU slopes must be float32 constants, one per channel");
  }
  return us->u.bits >= 0 ? prepare_sign(ctx, us, y, us->u.bits) : kTfLiteOk;
}

/* A max pool's output size and leading padding along one axis (TFLite's SAME / VALID). */
static void pool_axis(int in, int filter, int stride, TfLitePadding padding, int* out, int* pad) {
  *out = padding == kTfLitePaddingSame ? (in + stride - 1) / stride : (in - filter + stride) / stride;
  const int total = (*out - 1) * stride + filter - in;
  *pad = padding == kTfLitePaddingSame && total > 0 ? total / 2 : 0;
}

static TfLiteStatus prepare_max_pool(TfLiteContext* ctx, unit_state* us) {
  const TfLiteTensor* x = &ctx->tensors[us->u.in[0]];
  ENSURE(x->type == kTfLiteFloat32 && checked_count(x, 4) > 0, "max pool input must be float32 of rank 4");
  const TfLitePoolParams* pp = &us->u.pool;
  int dims[4] = {x->dims->data[0], 0, 0, last_dim(x)}, pad;
  pool_axis(x->dims->data[1], pp->filter_height, pp->stride_height, pp->padding, &dims[1], &pad);
  pool_axis(x->dims->data[2], pp->filter_width, pp->stride_width, pp->padding, &dims[2], &pad);
  ENSURE(dims[1] > 0 && dims[2] > 0, "max pool window larger than its input");
  us->channels = dims[3];
  return set_shape(ctx, &ctx->tensors[us->u.out], 4, dims);
}

static TfLiteStatus prepare_upsample_add(TfLiteContext* ctx, unit_state* us) {
  const TfLiteTensor *low = &ctx->tensors[us->u.in[0]], *skip = &ctx->tensors[us->u.in[1]];
  const TfLiteTensor* size = &ctx->tensors[us->u.size];
  ENSURE(low->type == kTfLiteFloat32 && skip->type == kTfLiteFloat32 && checked_count(low, 4) > 0 &&
         checked_count(skip, 4) > 0, "upsample + add inputs must be float32 of rank 4");
  ENSURE(size->type == kTfLiteInt32 && checked_count(size, 1) == 2 && data_ok(size), "resize size must be 2 int32");
  const int* l = low->dims->data;
  const int* k = skip->dims->data;
  ENSURE(k[0] == l[0] && k[3] == l[3] && size->data.i32[0] == k[1] && size->data.i32[1] == k[2] && k[1] % l[1] == 0 &&
             k[2] % l[2] == 0, "upsample + add: the other addend must be the input scaled by whole factors");
  us->channels = l[3];
  return set_shape(ctx, &ctx->tensors[us->u.out], 4, k);
}

/* An output that no node outside the partition reads lives in the unit's own buffer. */
static TfLiteStatus own_output(TfLiteContext* ctx, unit_state* us, int slot, int t, const TfLiteIntArray* outs) {
  bnn_free(us->own[slot]);
  us->own[slot] = 0;
  us->own_bytes[slot] = 0;
  if (t < 0 || holds(outs, t)) return kTfLiteOk;
  us->own_bytes[slot] = (size_t)checked_count(&ctx->tensors[t], 0) * 4;
  us->own[slot] = bnn_alloc(us->own_bytes[slot]);
  ENSURE(us->own[slot], "out of memory");
  return kTfLiteOk;
}

static TfLiteStatus fused_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  fused_data* f = (fused_data*)node->user_data;
  ENSURE(f && f->s, "out of memory");
  f->cfg = cfg_now();
  for (int i = 0; i < f->n; ++i) {
    unit_state* us = &f->s[i];
    const TfLiteStatus st = us->u.kind == UNIT_BN_SIGN        ? prepare_bn_sign(ctx, us)
                            : us->u.kind == UNIT_CONCAT_ADD   ? prepare_concat_add(ctx, us)
                            : us->u.kind == UNIT_MAX_POOL     ? prepare_max_pool(ctx, us)
                            : us->u.kind == UNIT_UPSAMPLE_ADD ? prepare_upsample_add(ctx, us)
                                                              : prepare_bconv(ctx, us);
    if (st != kTfLiteOk) return st;
    const int y_unused = us->u.kind == UNIT_BCONV && !us->write_y;
    if (own_output(ctx, us, 0, y_unused ? -1 : us->u.out, node->outputs) != kTfLiteOk ||
        own_output(ctx, us, 1, us->u.kind == UNIT_BCONV ? us->u.bits : -1, node->outputs) != kTfLiteOk)
      return kTfLiteError;
  }
  return kTfLiteOk;
}

/* The data of tensor t as unit `upto` of the partition sees it, if it holds `bytes`: the own
 * buffer of a unit up to `upto`, or the tensor's. NULL when neither is there. */
static void* data_of(const TfLiteContext* ctx, const fused_data* f, int upto, int t, int64_t bytes) {
  for (int i = upto; i >= 0; --i)
    for (int slot = 0; slot < 2; ++slot) {
      const int owner = slot ? f->s[i].u.bits : f->s[i].u.out;
      if (owner == t && f->s[i].own[slot]) return (int64_t)f->s[i].own_bytes[slot] >= bytes ? f->s[i].own[slot] : 0;
    }
  const TfLiteTensor* x = &ctx->tensors[t];
  return data_ok(x) && (int64_t)x->bytes >= bytes ? x->data.raw : 0;
}

static int64_t pixels_of(const TfLiteContext* ctx, int t) {
  const TfLiteTensor* x = &ctx->tensors[t];
  return checked_count(x, 0) / last_dim(x);
}

static TfLiteStatus invoke_bconv(TfLiteContext* ctx, const fused_data* f, int i, int threads) {
  const unit_state* us = &f->s[i];
  const int64_t in_words = checked_count(&ctx->tensors[us->u.in[0]], 0);
  const int64_t pixels = pixels_of(ctx, us->u.out);
  const int c = us->channels;
  bnn_epilogue e;
  memset(&e, 0, sizeof(e));
  e.alpha = us->alpha;
  const int32_t* in = (const int32_t*)data_of(ctx, f, i - 1, us->u.in[0], in_words * 4);
  ENSURE(in, "unallocated tensor");
  if (us->write_y) {
    e.y = (float*)data_of(ctx, f, i, us->u.out, pixels * c * 4);
    e.y_stride = c;
    ENSURE(e.y, "unallocated tensor");
  }
  if (us->into >= 0) { /* y (+ residual) into its slice of the block output */
    const unit_state* cs = &f->s[us->into];
    const int64_t bytes = pixels * cs->channels * 4;
    e.sum = (float*)data_of(ctx, f, us->into, cs->u.out, bytes);
    e.sum_stride = cs->channels;
    ENSURE(e.sum, "unallocated tensor");
    e.sum += cs->part_off[us->u.part];
    if (us->with_residual) {
      e.residual = (const float*)data_of(ctx, f, i - 1, cs->u.residual, bytes);
      ENSURE(e.residual, "unallocated tensor");
      e.residual += cs->part_off[us->u.part];
    }
  }
  if (us->u.bits >= 0) {
    e.scale = us->scale;
    e.shift = us->shift;
    e.bits = (int32_t*)data_of(ctx, f, i, us->u.bits, pixels * ((c + 31) / 32) * 4);
    ENSURE(e.bits, "unallocated tensor");
  }
  ENSURE(bnn_bconv_run_fused(us->bconv, in, &e, threads) == 0, "unsupported fused convolution");
  return kTfLiteOk;
}

static TfLiteStatus invoke_max_pool(TfLiteContext* ctx, const fused_data* f, int i, int threads) {
  const unit_state* us = &f->s[i];
  const TfLiteTensor *x = &ctx->tensors[us->u.in[0]], *y = &ctx->tensors[us->u.out];
  const TfLitePoolParams* pp = &us->u.pool;
  int oh, ow, pad_top, pad_left;
  pool_axis(x->dims->data[1], pp->filter_height, pp->stride_height, pp->padding, &oh, &pad_top);
  pool_axis(x->dims->data[2], pp->filter_width, pp->stride_width, pp->padding, &ow, &pad_left);
  const float* in = (const float*)data_of(ctx, f, i - 1, us->u.in[0], checked_count(x, 0) * 4);
  float* out = (float*)data_of(ctx, f, i, us->u.out, checked_count(y, 0) * 4);
  ENSURE(in && out, "unallocated tensor");
  const int64_t t0 = bnn_profile_clock();
  bnn_maxpool_f32(in, x->dims->data[0], x->dims->data[1], x->dims->data[2], us->channels, pp->filter_height,
                  pp->filter_width, pp->stride_height, pp->stride_width, pad_top, pad_left, oh, ow, out, threads);
  bnn_profile_pass(BNN_PASS_MAX_POOL, t0);
  return kTfLiteOk;
}

static TfLiteStatus invoke_upsample_add(TfLiteContext* ctx, const fused_data* f, int i, int threads) {
  const unit_state* us = &f->s[i];
  const TfLiteTensor *low = &ctx->tensors[us->u.in[0]], *skip = &ctx->tensors[us->u.in[1]];
  const int64_t n = checked_count(skip, 0);
  const float* l = (const float*)data_of(ctx, f, i - 1, us->u.in[0], checked_count(low, 0) * 4);
  const float* k = (const float*)data_of(ctx, f, i - 1, us->u.in[1], n * 4);
  float* out = (float*)data_of(ctx, f, i, us->u.out, n * 4);
  ENSURE(l && k && out, "unallocated tensor");
  const int* d = low->dims->data;
  const int64_t t0 = bnn_profile_clock();
  bnn_upsample_add(l, d[0], d[1], d[2], d[3], skip->dims->data[1] / d[1], skip->dims->data[2] / d[2], k, out, threads);
  bnn_profile_pass(BNN_PASS_UPSAMPLE_ADD, t0);
  return kTfLiteOk;
}

static TfLiteStatus run_units(TfLiteContext* ctx, const fused_data* f);

static TfLiteStatus fused_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  const fused_data* f = (const fused_data*)node->user_data;
  ENSURE(f, "not prepared");
  bnn_use_pool(f->pool, f->parallelize);
  const TfLiteStatus st = run_units(ctx, f);
  bnn_use_pool(0, 0);
  return st;
}

static TfLiteStatus run_units(TfLiteContext* ctx, const fused_data* f) {
  const int threads = threads_of(ctx, &f->cfg);
  for (int i = 0; i < f->n; ++i) {
    const unit_state* us = &f->s[i];
    ENSURE(us->channels > 0, "not prepared");
    const int64_t pixels = pixels_of(ctx, us->u.kind == UNIT_BN_SIGN ? us->u.in[0] : us->u.out);
    if (us->u.kind == UNIT_BCONV) {
      if (invoke_bconv(ctx, f, i, threads) != kTfLiteOk) return kTfLiteError;
    } else if (us->u.kind == UNIT_MAX_POOL) {
      if (invoke_max_pool(ctx, f, i, threads) != kTfLiteOk) return kTfLiteError;
    } else if (us->u.kind == UNIT_UPSAMPLE_ADD) {
      if (invoke_upsample_add(ctx, f, i, threads) != kTfLiteOk) return kTfLiteError;
    } else if (us->u.kind == UNIT_BN_SIGN) {
      const int64_t t0 = bnn_profile_clock();
      const float* x = (const float*)data_of(ctx, f, i - 1, us->u.in[0], pixels * us->channels * 4);
      int32_t* out = (int32_t*)data_of(ctx, f, i, us->u.out, pixels * ((us->channels + 31) / 32) * 4);
      ENSURE(x && out, "unallocated tensor");
      bnn_pack_affine(x, (int)pixels, us->channels, us->scale, us->shift, out, threads, f->cfg.isa);
      bnn_profile_pass(BNN_PASS_BN_SIGN, t0);
    } else {
      const int64_t t0 = bnn_profile_clock();
      const float* r = (const float*)data_of(ctx, f, i - 1, us->u.residual, pixels * us->channels * 4);
      float* out = (float*)data_of(ctx, f, i, us->u.out, pixels * us->channels * 4);
      const float* parts[UNIT_MAX_IN];
      for (int k = 0; k < us->u.n_in; ++k) {
        parts[k] = us->part_mode[k] != PART_COPY
                       ? 0
                       : (const float*)data_of(ctx, f, i - 1, us->u.in[k], pixels * us->part_c[k] * 4);
        ENSURE(parts[k] || us->part_mode[k] != PART_COPY, "unallocated tensor");
      }
      ENSURE(r && out, "unallocated tensor");
      bnn_concat_add(parts, us->part_c, us->part_mode, us->u.n_in, r, (int)pixels, out, threads);
      bnn_profile_pass(BNN_PASS_CONCAT_ADD, t0);
    }
  }
  return kTfLiteOk;
}

/* ------------------------------------------------------------------ matching */
typedef struct {
  const TfLiteIntArray* plan;
  TfLiteNode** node;        /* [nodes] */
  TfLiteRegistration** reg; /* [nodes] */
  int* producer;            /* [tensors] node index, or -1 */
  int* readers;             /* [tensors] nodes reading it, + 2 for a model output */
  char* taken;              /* [nodes] claimed by a unit already */
  size_t tensors;
} graph_view;

static int valid_tensor(const graph_view* g, int t) { return t >= 0 && (size_t)t < g->tensors; }

static int is_const(const TfLiteContext* ctx, int t) {
  return t >= 0 && (size_t)t < ctx->tensors_size && ctx->tensors[t].allocation_type == kTfLiteMmapRo &&
         ctx->tensors[t].type == kTfLiteFloat32 && ctx->tensors[t].data.raw;
}

static int same_dims(const TfLiteTensor* a, const TfLiteTensor* b) {
  return same_pixels(a, b) && last_dim(a) == last_dim(b);
}

/* A builtin node of `code` with `n_in` inputs (0: any), one output and no fused activation. */
static int plain_builtin(const TfLiteNode* n, const TfLiteRegistration* r, int code, int n_in) {
  if (!n || !r || r->builtin_code != code || !n->inputs || (n_in && n->inputs->size != n_in) ||
      !n->outputs || n->outputs->size != 1 || !n->builtin_data)
    return 0;
  const int* params = (const int*)n->builtin_data; /* ADD/MUL: {activation}; CONCAT: {axis, activation} */
  return (code == kTfLiteBuiltinConcatenation ? params[1] : params[0]) == 0;
}

static int is_custom(const TfLiteRegistration* r, const char* name) {
  return r && r->builtin_code == kTfLiteBuiltinCustom && r->custom_name && strcmp(r->custom_name, name) == 0;
}

/* The producer of `t` when `t` has exactly one reader, else -1. */
static int sole_producer(const graph_view* g, int t) {
  return valid_tensor(g, t) && g->readers[t] == 1 ? g->producer[t] : -1;
}

/* The single output of node n, or -1. */
static int out_of(const graph_view* g, int n) {
  return n >= 0 && g->node[n] && g->node[n]->outputs && g->node[n]->outputs->size == 1
             ? g->node[n]->outputs->data[0]
             : -1;
}

/* The one node reading `t`, or -1. */
static int sole_reader(const graph_view* g, int t) {
  if (!valid_tensor(g, t) || g->readers[t] != 1) return -1;
  for (int i = 0; i < g->plan->size; ++i) {
    const TfLiteNode* n = g->node[g->plan->data[i]];
    if (n && holds(n->inputs, t)) return g->plan->data[i];
  }
  return -1;
}

/* A unit of `kind` replacing `n_nodes` nodes, reading `n_in` tensors and writing `out`; every other
 * field is -1 (none) or empty. */
static void unit_init(fused_unit* u, int kind, const int* nodes, int n_nodes, const int* in, int n_in, int out) {
  memset(u, 0, sizeof(*u));
  u->kind = kind;
  for (int k = 0; k < n_nodes; ++k) u->nodes[k] = nodes[k];
  u->n_nodes = n_nodes;
  for (int k = 0; k < n_in && in; ++k) u->in[k] = in[k];
  u->n_in = n_in;
  u->out = out;
  u->scale = u->shift = u->residual = u->bits = u->alpha = u->cat_node = u->part = u->size = -1;
}

/* MUL(x, scale) -> ADD(., shift) -> LceQuantize ending at node q. */
static int match_bn_sign(const TfLiteContext* ctx, const graph_view* g, int q, fused_unit* u) {
  const TfLiteNode* qn = g->node[q];
  if (!qn || !is_custom(g->reg[q], "LceQuantize") || !qn->inputs || qn->inputs->size != 1 || !qn->outputs ||
      qn->outputs->size != 1)
    return 0;
  const int a = qn->inputs->data[0], add = sole_producer(g, a);
  if (add < 0 || g->taken[add] || !plain_builtin(g->node[add], g->reg[add], kTfLiteBuiltinAdd, 2)) return 0;
  const int* ai = g->node[add]->inputs->data;
  const int m = is_const(ctx, ai[1]) ? ai[0] : ai[1], shift = m == ai[0] ? ai[1] : ai[0];
  const int mul = sole_producer(g, m);
  if (!is_const(ctx, shift) || mul < 0 || g->taken[mul] ||
      !plain_builtin(g->node[mul], g->reg[mul], kTfLiteBuiltinMul, 2))
    return 0;
  const int* mi = g->node[mul]->inputs->data;
  const int x = is_const(ctx, mi[1]) ? mi[0] : mi[1], scale = x == mi[0] ? mi[1] : mi[0];
  if (!valid_tensor(g, x) || is_const(ctx, x) || !is_const(ctx, scale)) return 0;
  const TfLiteTensor *tx = &ctx->tensors[x], *tm = &ctx->tensors[m], *ta = &ctx->tensors[a];
  if (tx->type != kTfLiteFloat32 || tm->type != kTfLiteFloat32 || ta->type != kTfLiteFloat32 ||
      checked_count(tx, 0) <= 0 || !same_dims(tx, tm) || !same_dims(tx, ta))
    return 0;
  const int64_t ns = checked_count(&ctx->tensors[scale], 0), nb = checked_count(&ctx->tensors[shift], 0);
  if ((ns != 1 && ns != last_dim(tx)) || (nb != 1 && nb != last_dim(tx))) return 0;
  unit_init(u, UNIT_BN_SIGN, (const int[]){mul, add, q}, 3, &x, 1, qn->outputs->data[0]);
  u->scale = scale;
  u->shift = shift;
  return 1;
}

/* CONCATENATION(y_0 .. y_n-1, last axis) -> ADD(., r) starting at the CONCATENATION `cat`. */
static int match_concat_add(const TfLiteContext* ctx, const graph_view* g, int cat, fused_unit* u) {
  const TfLiteNode* cn = g->node[cat];
  if (!plain_builtin(cn, g->reg[cat], kTfLiteBuiltinConcatenation, 0) || cn->inputs->size < 1 ||
      cn->inputs->size > UNIT_MAX_IN)
    return 0;
  const int c = cn->outputs->data[0], add = sole_reader(g, c);
  if (add < 0 || g->taken[add] || !plain_builtin(g->node[add], g->reg[add], kTfLiteBuiltinAdd, 2)) return 0;
  const int* ai = g->node[add]->inputs->data;
  const int r = ai[0] == c ? ai[1] : ai[0], sum = g->node[add]->outputs->data[0];
  const TfLiteTensor* tc = &ctx->tensors[c];
  const int axis = *(const int*)cn->builtin_data;
  if (!valid_tensor(g, r) || is_const(ctx, r) || r == c || checked_count(tc, 0) <= 0 ||
      (axis != -1 && axis != tc->dims->size - 1) || tc->type != kTfLiteFloat32 ||
      ctx->tensors[r].type != kTfLiteFloat32 || !same_dims(tc, &ctx->tensors[r]) || !same_dims(tc, &ctx->tensors[sum]))
    return 0;
  unit_init(u, UNIT_CONCAT_ADD, (const int[]){cat, add}, 2, 0, cn->inputs->size, sum);
  u->residual = r;
  for (int i = 0; i < cn->inputs->size; ++i) {
    const int y = cn->inputs->data[i];
    if (!valid_tensor(g, y) || is_const(ctx, y) || ctx->tensors[y].type != kTfLiteFloat32 ||
        checked_count(&ctx->tensors[y], 0) <= 0 || !same_pixels(&ctx->tensors[y], tc))
      return 0;
    u->in[i] = y;
  }
  return 1;
}

/* PRELU(y, alpha) at node r with constant alpha of [C] or [1, 1, C] (per channel, as Keras'
 * PReLU(shared_axes=[1, 2]) converts): its output, or -1. */
static int match_prelu(const TfLiteContext* ctx, const graph_view* g, int r, int y, int* alpha) {
  const TfLiteNode* n = r >= 0 ? g->node[r] : 0;
  if (!n || !g->reg[r] || g->reg[r]->builtin_code != kTfLiteBuiltinPrelu || g->taken[r] || !n->inputs ||
      n->inputs->size != 2 || n->inputs->data[0] != y || !n->outputs || n->outputs->size != 1)
    return -1;
  const int a = n->inputs->data[1], out = n->outputs->data[0];
  if (!is_const(ctx, a) || !valid_tensor(g, out) || !same_dims(&ctx->tensors[y], &ctx->tensors[out]) ||
      ctx->tensors[out].type != kTfLiteFloat32 || checked_count(&ctx->tensors[a], 0) != last_dim(&ctx->tensors[y]))
    return -1;
  *alpha = a;
  return out;
}

/* An LceBconv2d reading bit-packed input and writing float y, at node b; folds in a PRELU that is
 * y's only reader (y is then its output), the batch norm + sign that reads y (if one does) and
 * notes the concatenation + add that y is part of. */
static int match_bconv(const TfLiteContext* ctx, const graph_view* g, int b, fused_unit* u) {
  const TfLiteNode* bn = g->node[b];
  if (!bn || !is_custom(g->reg[b], "LceBconv2d") || !bn->inputs || bn->inputs->size != 5 || !bn->outputs ||
      bn->outputs->size != 1 || !bn->custom_initial_data || bn->custom_initial_data_size <= 0)
    return 0;
  const int in = bn->inputs->data[0];
  int y = bn->outputs->data[0];
  if (!valid_tensor(g, in) || !valid_tensor(g, y) || ctx->tensors[in].type != kTfLiteInt32 ||
      ctx->tensors[y].type != kTfLiteFloat32 || checked_count(&ctx->tensors[y], 4) <= 0)
    return 0;
  unit_init(u, UNIT_BCONV, &b, 1, bn->inputs->data, 5, y);
  u->options = (const char*)bn->custom_initial_data;
  u->options_size = bn->custom_initial_data_size;
  const int pr = sole_reader(g, y), py = match_prelu(ctx, g, pr, y, &u->alpha);
  if (py >= 0) {
    u->nodes[u->n_nodes++] = pr;
    u->out = py;
  }
  y = u->out;
  for (int i = 0; i < g->plan->size; ++i) { /* y's readers */
    const int r = g->plan->data[i];
    const TfLiteNode* rn = g->node[r];
    if (!rn || g->taken[r] || !holds(rn->inputs, y)) continue;
    fused_unit s;
    const int q = plain_builtin(rn, g->reg[r], kTfLiteBuiltinMul, 2)
                      ? sole_reader(g, out_of(g, sole_reader(g, out_of(g, r))))
                      : -1;
    if (u->bits < 0 && q >= 0 && match_bn_sign(ctx, g, q, &s) && s.in[0] == y) {
      u->nodes[u->n_nodes++] = s.nodes[0];
      u->nodes[u->n_nodes++] = s.nodes[1];
      u->nodes[u->n_nodes++] = s.nodes[2];
      u->scale = s.scale;
      u->shift = s.shift;
      u->bits = s.out;
    } else if (u->cat_node < 0 && match_concat_add(ctx, g, r, &s)) {
      int hits = 0;
      for (int k = 0; k < s.n_in; ++k)
        if (s.in[k] == y) u->part = k, ++hits;
      if (hits == 1) u->cat_node = r;
      else u->part = -1;
    }
  }
  return 1;
}
static int fuse_enabled(void) {
#ifndef BNN_FREESTANDING
  const char* e = getenv("BNN_FUSE");
  return !(e && e[0] == '0' && !e[1]);
#else
  return 1;
#endif
}

/* BuiltinOperator_DELEGATE (51): the code TFLite gives delegate kernels */
static const TfLiteRegistration fused_reg = {.init = fused_init, .free = fused_free, .prepare = fused_prepare,
                                            .invoke = fused_invoke, .builtin_code = 51, .custom_name = OPNAME,
                                            .version = 1};

/* Read the graph into `g` (nodes, producers, readers): 1, or 0 when it is not a graph this
 * delegate touches (a node that reads what it or a later node writes, or a tensor written twice:
 * TFLite's own partitioning does not survive such graphs), -1 when out of memory. */
static int read_graph(TfLiteContext* ctx, const bnn_delegate* d, const TfLiteIntArray* plan, graph_view* g) {
  const bnn_get_node_fn get = (bnn_get_node_fn)ctx->GetNodeAndRegistration;
  int nodes = 0;
  for (int i = 0; i < plan->size; ++i)
    if (plan->data[i] + 1 > nodes) nodes = plan->data[i] + 1;
  g->tensors = ctx->tensors_size;
  g->node = (TfLiteNode**)bnn_alloc(sizeof(void*) * (size_t)(nodes + 1));
  g->reg = (TfLiteRegistration**)bnn_alloc(sizeof(void*) * (size_t)(nodes + 1));
  g->producer = (int*)bnn_alloc(sizeof(int) * (g->tensors + 1));
  g->readers = (int*)bnn_alloc(sizeof(int) * (g->tensors + 1));
  g->taken = (char*)bnn_alloc((size_t)(nodes + 1));
  if (!g->node || !g->reg || !g->producer || !g->readers || !g->taken) return -1;
  memset(g->node, 0, sizeof(void*) * (size_t)(nodes + 1));
  memset(g->reg, 0, sizeof(void*) * (size_t)(nodes + 1));
  memset(g->taken, 0, (size_t)(nodes + 1));
  for (size_t t = 0; t < g->tensors; ++t) g->producer[t] = -1, g->readers[t] = 0;
  for (int i = 0; i < d->n_keep; ++i)
    if (valid_tensor(g, d->keep[i])) g->readers[d->keep[i]] += 2; /* never fused away */
  for (int i = 0; i < plan->size; ++i) { /* producers first: the order check needs them all */
    const int ni = plan->data[i];
    TfLiteNode* n = 0;
    TfLiteRegistration* r = 0;
    if (ni < 0 || get(ctx, ni, &n, &r) != kTfLiteOk || !n || g->node[ni]) return 0;
    g->node[ni] = n;
    g->reg[ni] = r;
    for (int k = 0; n->outputs && k < n->outputs->size; ++k) {
      const int t = n->outputs->data[k];
      if (!valid_tensor(g, t) || g->producer[t] >= 0) return 0;
      g->producer[t] = i; /* plan position for now */
    }
  }
  for (int i = 0; i < plan->size; ++i) {
    const TfLiteNode* n = g->node[plan->data[i]];
    for (int k = 0; n->inputs && k < n->inputs->size; ++k) {
      const int t = n->inputs->data[k];
      if (t < 0) continue; /* optional input */
      if (!valid_tensor(g, t) || g->producer[t] >= i) return 0;
      g->readers[t] += 1;
    }
  }
  for (size_t t = 0; t < g->tensors; ++t)
    if (g->producer[t] >= 0) g->producer[t] = plan->data[g->producer[t]];
  return 1;
}

/* A CONCATENATION -> ADD unit, found at its ADD (where it runs: its residual may come later). */
static int match_concat_at_add(const TfLiteContext* ctx, const graph_view* g, int add, fused_unit* u) {
  if (!plain_builtin(g->node[add], g->reg[add], kTfLiteBuiltinAdd, 2)) return 0;
  for (int side = 0; side < 2; ++side) {
    const int t = g->node[add]->inputs->data[side], cat = valid_tensor(g, t) ? g->producer[t] : -1;
    if (cat >= 0 && !g->taken[cat] && match_concat_add(ctx, g, cat, u) && u->nodes[1] == add) return 1;
  }
  return 0;
}

/* A float MAX_POOL_2D without a fused activation at node n (windows and strides up to
 * BNN_MAX_POOL_WINDOW; larger ones stay with the interpreter). */
#define BNN_MAX_POOL_WINDOW 64
static int match_max_pool(const TfLiteContext* ctx, const graph_view* g, int n, fused_unit* u) {
  const TfLiteNode* pn = g->node[n];
  if (!pn || !g->reg[n] || g->reg[n]->builtin_code != kTfLiteBuiltinMaxPool2d || !pn->inputs ||
      pn->inputs->size != 1 || !pn->outputs || pn->outputs->size != 1 || !pn->builtin_data)
    return 0;
  const TfLitePoolParams* pp = (const TfLitePoolParams*)pn->builtin_data;
  const int x = pn->inputs->data[0], y = pn->outputs->data[0];
  if (!valid_tensor(g, x) || !valid_tensor(g, y) || ctx->tensors[x].type != kTfLiteFloat32 ||
      ctx->tensors[y].type != kTfLiteFloat32 || checked_count(&ctx->tensors[x], 4) <= 0 || pp->activation != 0 ||
      (pp->padding != kTfLitePaddingSame && pp->padding != kTfLitePaddingValid) || pp->stride_width < 1 ||
      pp->stride_height < 1 || pp->filter_width < 1 || pp->filter_height < 1 ||
      pp->stride_width > BNN_MAX_POOL_WINDOW || pp->stride_height > BNN_MAX_POOL_WINDOW ||
      pp->filter_width > BNN_MAX_POOL_WINDOW || pp->filter_height > BNN_MAX_POOL_WINDOW)
    return 0;
  unit_init(u, UNIT_MAX_POOL, &n, 1, &x, 1, y);
  u->pool = *pp;
  return 1;
}

/* RESIZE_NEAREST_NEIGHBOR (without align_corners, to a constant size) whose only reader is the ADD
 * at node `add`, the other addend of the output's shape: both as one unit, found at the ADD. */
static int match_upsample_add(const TfLiteContext* ctx, const graph_view* g, int add, fused_unit* u) {
  if (!plain_builtin(g->node[add], g->reg[add], kTfLiteBuiltinAdd, 2)) return 0;
  const int sum = g->node[add]->outputs->data[0];
  for (int side = 0; side < 2; ++side) {
    const int t = g->node[add]->inputs->data[side], skip = g->node[add]->inputs->data[1 - side];
    const int rs = sole_producer(g, t);
    const TfLiteNode* rn = rs >= 0 ? g->node[rs] : 0;
    if (!rn || !g->reg[rs] || g->taken[rs] || g->reg[rs]->builtin_code != kTfLiteBuiltinResizeNearestNeighbor ||
        !rn->inputs ||
        rn->inputs->size != 2 || !rn->outputs || rn->outputs->size != 1 || !rn->builtin_data ||
        ((const TfLiteResizeNearestNeighborParams*)rn->builtin_data)->align_corners)
      continue;
    const int low = rn->inputs->data[0], size = rn->inputs->data[1];
    if (!valid_tensor(g, low) || !valid_tensor(g, skip) || !valid_tensor(g, size) || !valid_tensor(g, sum) ||
        ctx->tensors[size].allocation_type != kTfLiteMmapRo || ctx->tensors[low].type != kTfLiteFloat32 ||
        ctx->tensors[skip].type != kTfLiteFloat32 || is_const(ctx, skip) || checked_count(&ctx->tensors[low], 4) <= 0 ||
        !same_dims(&ctx->tensors[skip], &ctx->tensors[t]) || !same_dims(&ctx->tensors[skip], &ctx->tensors[sum]))
      continue;
    unit_init(u, UNIT_UPSAMPLE_ADD, (const int[]){add, rs}, 2, (const int[]){low, skip}, 2, sum);
    u->size = size;
    return 1;
  }
  return 0;
}

/* The units, in plan order. */
static void find_units(const TfLiteContext* ctx, bnn_delegate* d, graph_view* g) {
  d->n_units = 0;
  for (int i = 0; i < g->plan->size; ++i) {
    const int ni = g->plan->data[i];
    fused_unit u;
    if (ni < 0 || !g->node[ni] || g->taken[ni]) continue;
    if (!match_bconv(ctx, g, ni, &u) && !match_bn_sign(ctx, g, ni, &u) && !match_concat_at_add(ctx, g, ni, &u) &&
        !match_max_pool(ctx, g, ni, &u) && !match_upsample_add(ctx, g, ni, &u))
      continue;
    for (int k = 0; k < u.n_nodes; ++k) g->taken[u.nodes[k]] = 1;
    d->units[d->n_units++] = u;
  }
}

static void claim_units(const bnn_delegate* d, TfLiteIntArray* claim) {
  claim->size = 0;
  for (int k = 0; k < d->n_units; ++k)
    for (int j = 0; j < d->units[k].n_nodes; ++j) claim->data[claim->size++] = d->units[k].nodes[j];
}

/* Drop the units whose nodes TFLite would put into different partitions (a concatenation + add
 * can be split when its residual comes from a node that is not claimed); 1 if any was. Without
 * a preview, only the units that cannot be split stay (a chain of single readers). */
static int drop_split_units(TfLiteContext* ctx, bnn_delegate* d, TfLiteIntArray* claim) {
  TfLiteDelegateParams* parts = 0;
  int n_parts = 0, dropped = 0, kept = 0;
  const bnn_preview_fn preview = (bnn_preview_fn)ctx->PreviewDelegatePartitioning;
  const int known = preview && preview(ctx, claim, &parts, &n_parts) == kTfLiteOk;
  for (int k = 0; k < d->n_units; ++k) {
    const fused_unit* u = &d->units[k];
    int whole = !known && u->kind != UNIT_CONCAT_ADD;
    for (int p = 0; known && p < n_parts; ++p)
      if (holds(parts[p].nodes_to_replace, u->nodes[0])) {
        whole = 1;
        for (int j = 1; j < u->n_nodes; ++j) whole = whole && holds(parts[p].nodes_to_replace, u->nodes[j]);
      }
    if (whole) d->units[kept++] = *u;
    else dropped = 1;
  }
  d->n_units = kept;
  return dropped;
}

static TfLiteStatus delegate_prepare(TfLiteContext* ctx, TfLiteDelegate* base) {
  bnn_delegate* d = (bnn_delegate*)base;
  d->n_units = 0;
  if (!d->usable || !fuse_enabled() || !ctx->GetExecutionPlan || !ctx->GetNodeAndRegistration ||
      !ctx->ReplaceNodeSubsetsWithDelegateKernels)
    return kTfLiteOk;
  TfLiteIntArray* plan = 0;
  if (ctx->GetExecutionPlan(ctx, &plan) != kTfLiteOk || !plan) return kTfLiteError;
  graph_view g;
  memset(&g, 0, sizeof(g));
  g.plan = plan;
  bnn_free(d->units);
  d->units = (fused_unit*)bnn_alloc(sizeof(fused_unit) * (size_t)(plan->size + 1));
  TfLiteIntArray* claim = (TfLiteIntArray*)bnn_alloc(sizeof(int) * (size_t)(6 * plan->size + 1));
  TfLiteStatus st = kTfLiteError;
  const int graph = d->units && claim ? read_graph(ctx, d, plan, &g) : -1;
  if (graph >= 0) {
    if (graph) find_units(ctx, d, &g);
    do claim_units(d, claim);
    while (d->n_units && drop_split_units(ctx, d, claim));
    st = d->n_units ? ((bnn_replace_nodes_fn)ctx->ReplaceNodeSubsetsWithDelegateKernels)(ctx, fused_reg, claim, base)
                    : kTfLiteOk;
  }
  bnn_free(g.node);
  bnn_free(g.reg);
  bnn_free(g.producer);
  bnn_free(g.readers);
  bnn_free(g.taken);
  bnn_free(claim);
  return st;
}

/* ------------------------------------------------------------------ API */
BNN_API void bnn_delegate_delete(TfLiteDelegate* base) {
  bnn_delegate* d = (bnn_delegate*)base;
  if (!d) return;
  bnn_free(d->keep);
  bnn_free(d->units);
  bnn_free(d);
}

/* The delegate for one interpreter of `model` (the flatbuffer, for its output tensors; a model
 * that cannot be read or has several subgraphs gets a delegate that claims nothing). */
BNN_API TfLiteDelegate* bnn_delegate_create(const void* model, size_t size) {
  bnn_delegate* d = (bnn_delegate*)bnn_alloc(sizeof(bnn_delegate));
  if (!d) return 0;
  memset(d, 0, sizeof(*d));
  d->base.data_ = d;
  d->base.Prepare = delegate_prepare;
  d->keep = (int32_t*)bnn_alloc(sizeof(int32_t) * 1024);
  if (!d->keep) return bnn_free(d), (TfLiteDelegate*)0;
  d->n_keep = model_outputs(model, size, d->keep, 1024);
  d->usable = d->n_keep >= 0;
  if (d->n_keep < 0) d->n_keep = 0;
  return &d->base;
}

/* Run the delegate's work on XNNPACK's thread pool (`pool`, with its pthreadpool_parallelize_1d):
 * call before the interpreter is built. */
BNN_API void bnn_delegate_use_pool(TfLiteDelegate* base, void* pool, void* parallelize) {
  bnn_delegate* d = (bnn_delegate*)base;
  if (!d) return;
  d->pool = parallelize ? pool : 0;
  d->parallelize = pool ? (bnn_parallelize_1d_fn)parallelize : 0;
}

/* Units claimed by the delegate's last Prepare, of `kind` (0: batch norm + sign, 1: concatenation
 * + add, 2: binary convolution, 3: binary convolution with a batch norm + sign folded in, 4: binary
 * convolution with a PRELU folded in, 5: max pool, 6: upsample + add); 0 when it fused nothing. */
BNN_API int bnn_delegate_fused(const TfLiteDelegate* base, int kind) {
  const bnn_delegate* d = (const bnn_delegate*)base;
  int n = 0;
  for (int i = 0; d && i < d->n_units; ++i) {
    const fused_unit* u = &d->units[i];
    n += kind == 3   ? u->kind == UNIT_BCONV && u->bits >= 0
         : kind == 4 ? u->kind == UNIT_BCONV && u->alpha >= 0
         : kind == 5 ? u->kind == UNIT_MAX_POOL
         : kind == 6 ? u->kind == UNIT_UPSAMPLE_ADD
                     : u->kind == kind;
  }
  return n;
}
