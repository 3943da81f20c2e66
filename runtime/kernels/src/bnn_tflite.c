/* TFLite custom-op glue: LceQuantize, LceDequantize, LceBconv2d and LceBMaxPool2d registered
 * with a stock TFLite interpreter. Every tensor shape, type and option is validated in Prepare;
 * a malformed model gets an error from the interpreter, never an out-of-bounds access. */
#include "bnn.h"
#include "flexbuf.h"
#include "tflite_abi.h"

#ifndef BNN_FREESTANDING
#include <string.h>
#else
void* memset(void*, int, size_t);
int strcmp(const char*, const char*);
#endif

#define BNN_VERSION "1.0.0"

#ifndef BNN_FREESTANDING
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#else
static int64_t now_ns(void) { return 0; }
#endif

/* Per-bconv profile (BNN_PROFILE=1 or bnn_profile_enable): time and calls of each instance. */
#define BNN_PROF_MAX 1024
typedef struct {
  bnn_bconv_shape shape;
  int64_t ns, calls;
} prof_entry;
static prof_entry prof[BNN_PROF_MAX];
static int prof_n = 0, prof_on = -1;

static int profiling(void) {
#ifndef BNN_FREESTANDING
  if (prof_on < 0) {
    const char* e = getenv("BNN_PROFILE");
    prof_on = e && *e && *e != '0';
  }
  return prof_on;
#else
  return 0;
#endif
}
#include "bnn_glue.h"

static int8_t quantize_pm1(float v, float scale, int zp) {
  float y = v / scale;
  int32_t q = (int32_t)(y >= 0.0f ? y + 0.5f : y - 0.5f) + zp;
  return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* ================================================================== LceQuantize */
#undef OPNAME
#define OPNAME "LceQuantize"
static void* cfg_init(TfLiteContext* ctx, const char* buffer, size_t length) {
  (void)ctx, (void)buffer, (void)length;
  return bnn_alloc(sizeof(run_cfg));
}

static TfLiteStatus quantize_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  ENSURE(node->user_data, "out of memory");
  *(run_cfg*)node->user_data = cfg_now();
  ENSURE(node->inputs && node->inputs->size == 1 && node->outputs && node->outputs->size == 1,
         "expects 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out, "missing tensor");
  ENSURE(in->type == kTfLiteFloat32 || in->type == kTfLiteInt8, "input must be float32 or int8");
  ENSURE(out->type == kTfLiteInt32, "output must be int32 (bit-packed)");
  ENSURE(checked_count(in, 0) > 0, "invalid input shape");
  int dims[8];
  const int r = in->dims->size;
  for (int i = 0; i < r; ++i) dims[i] = in->dims->data[i];
  dims[r - 1] = (dims[r - 1] + 31) / 32;
  return set_shape(ctx, out, r, dims);
}

static TfLiteStatus quantize_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out && data_ok(in) && data_ok(out), "unallocated tensor");
  const int c = in->dims->data[in->dims->size - 1];
  const int64_t pixels = checked_count(in, 0) / c;
  ENSURE(checked_count(out, 0) == pixels * ((c + 31) / 32), "output shape mismatch");
  const run_cfg* cfg = (const run_cfg*)node->user_data;
  if (in->type == kTfLiteFloat32)
    bnn_pack_float(in->data.f, (int)pixels, c, out->data.i32, threads_of(ctx, cfg), cfg->isa);
  else
    bnn_pack_int8(in->data.int8, (int)pixels, c, in->params.zero_point, out->data.i32,
                  threads_of(ctx, cfg));
  return kTfLiteOk;
}

/* ================================================================== LceDequantize */
#undef OPNAME
#define OPNAME "LceDequantize"
static TfLiteStatus dequantize_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  ENSURE(node->inputs && node->inputs->size == 1 && node->outputs && node->outputs->size == 1,
         "expects 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out, "missing tensor");
  ENSURE(in->type == kTfLiteInt32, "input must be int32 (bit-packed)");
  ENSURE(out->type == kTfLiteFloat32 || out->type == kTfLiteInt8, "output must be float32 or int8");
  ENSURE(checked_count(in, 0) > 0 && checked_count(out, 0) > 0, "invalid shape");
  const int r = in->dims->size;
  ENSURE(out->dims->size == r, "input and output ranks differ");
  for (int i = 0; i < r - 1; ++i) ENSURE(in->dims->data[i] == out->dims->data[i], "shape mismatch");
  ENSURE(in->dims->data[r - 1] == (out->dims->data[r - 1] + 31) / 32,
         "packed input width does not match the output channels");
  if (out->type == kTfLiteInt8) ENSURE(out->params.scale > 0.0f, "int8 output needs a scale");
  return kTfLiteOk;
}

static TfLiteStatus dequantize_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out && data_ok(in) && data_ok(out), "unallocated tensor");
  const int c = out->dims->data[out->dims->size - 1];
  const int64_t pixels = checked_count(out, 0) / c;
  ENSURE(checked_count(in, 0) == pixels * ((c + 31) / 32), "input shape mismatch");
  if (out->type == kTfLiteFloat32) {
    bnn_unpack_float(in->data.i32, (int)pixels, c, out->data.f);
  } else {
    const float s = out->params.scale;
    const int zp = out->params.zero_point;
    bnn_unpack_int8(in->data.i32, (int)pixels, c, quantize_pm1(1.0f, s, zp),
                    quantize_pm1(-1.0f, s, zp), out->data.int8);
  }
  return kTfLiteOk;
}

/* ================================================================== shared option parsing */
typedef struct {
  int ok;
  const char* error;
  int stride_h, stride_w, dil_h, dil_w, filter_h, filter_w;
  int padding_same;
  int pad_values;
  int activation; /* TFLite ActivationFunctionType: 0 none, 1 relu, 2 relu_n1_to_1, 3 relu6 */
  int channels_in;
} op_options;

static int read_int(const bnn_flexmap* m, const char* key, int64_t lo, int64_t hi, int64_t dflt,
                    int required, int* out, op_options* o) {
  int64_t v;
  const int f = bnn_flexmap_int(m, key, &v);
  if (f < 0) { o->error = "malformed custom options"; return -1; }
  if (f == 0) {
    if (required) { o->error = "a required option is missing"; return -1; }
    v = dflt;
  }
  if (v < lo || v > hi) { o->error = "an option is out of range"; return -1; }
  *out = (int)v;
  return 0;
}

static void parse_options(const char* buffer, size_t length, int is_pool, op_options* o) {
  memset(o, 0, sizeof(*o));
  bnn_flexmap m;
  if (bnn_flexmap_open((const uint8_t*)buffer, length, &m)) {
    o->error = "custom options are not a FlexBuffers map";
    return;
  }
  char s[16];
  int f = bnn_flexmap_str(&m, "padding", s, sizeof(s));
  if (f == 1) {
    if (!strcmp(s, "SAME") || !strcmp(s, "same")) o->padding_same = 1;
    else if (!strcmp(s, "VALID") || !strcmp(s, "valid")) o->padding_same = 0;
    else { o->error = "padding must be SAME or VALID"; return; }
  } else {
    int p;
    if (read_int(&m, "padding", 0, 1, 0, 1, &p, o)) return;
    o->padding_same = p == 0; /* TFLite Padding enum: SAME = 0, VALID = 1 */
  }
  if (read_int(&m, "stride_height", 1, 1 << 16, 1, 1, &o->stride_h, o)) return;
  if (read_int(&m, "stride_width", 1, 1 << 16, 1, 1, &o->stride_w, o)) return;
  if (is_pool) {
    if (read_int(&m, "filter_height", 1, 1 << 16, 1, 1, &o->filter_h, o)) return;
    if (read_int(&m, "filter_width", 1, 1 << 16, 1, 1, &o->filter_w, o)) return;
  } else {
    if (read_int(&m, "dilation_height_factor", 1, 1 << 16, 1, 1, &o->dil_h, o)) return;
    if (read_int(&m, "dilation_width_factor", 1, 1 << 16, 1, 1, &o->dil_w, o)) return;
    if (read_int(&m, "pad_values", 0, 1, 0, 0, &o->pad_values, o)) return;
    if (read_int(&m, "channels_in", 0, 1 << 24, 0, 0, &o->channels_in, o)) return;
    f = bnn_flexmap_str(&m, "fused_activation_function", s, sizeof(s));
    if (f == 1) {
      if (!strcmp(s, "") || !strcmp(s, "NONE")) o->activation = 0;
      else if (!strcmp(s, "RELU")) o->activation = 1;
      else if (!strcmp(s, "RELU_N1_TO_1")) o->activation = 2;
      else if (!strcmp(s, "RELU6")) o->activation = 3;
      else { o->error = "unsupported fused activation"; return; }
    } else if (read_int(&m, "fused_activation_function", 0, 3, 0, 0, &o->activation, o)) {
      return;
    }
  }
  o->ok = 1;
}

/* TFLite's SAME/VALID output size and leading padding. */
static int out_size(int in, int k_eff, int stride, int same, int* pad_before) {
  const int out = same ? (in + stride - 1) / stride : (in - k_eff + stride) / stride;
  int total = (out - 1) * stride + k_eff - in;
  if (total < 0) total = 0;
  *pad_before = total / 2;
  return out;
}

/* ================================================================== LceBMaxPool2d */
#undef OPNAME
#define OPNAME "LceBMaxPool2d"
typedef struct {
  op_options o;
  int pad_top, pad_left;
  run_cfg cfg;
} pool_data;

static void* pool_init(TfLiteContext* ctx, const char* buffer, size_t length) {
  (void)ctx;
  pool_data* d = (pool_data*)bnn_alloc(sizeof(pool_data));
  if (d) parse_options(buffer, length, 1, &d->o);
  return d;
}

static void plain_free(TfLiteContext* ctx, void* p) {
  (void)ctx;
  bnn_free(p);
}

static TfLiteStatus pool_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  pool_data* d = (pool_data*)node->user_data;
  ENSURE(d, "out of memory");
  d->cfg = cfg_now();
  ENSURE(d->o.ok, d->o.error);
  ENSURE(node->inputs && node->inputs->size == 1 && node->outputs && node->outputs->size == 1,
         "expects 1 input and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out, "missing tensor");
  ENSURE(in->type == kTfLiteInt32 && out->type == kTfLiteInt32, "tensors must be int32 (bit-packed)");
  ENSURE(checked_count(in, 4) > 0, "input must be a valid 4-D tensor");
  const int h = in->dims->data[1], w = in->dims->data[2];
  ENSURE(d->o.padding_same || (d->o.filter_h <= h && d->o.filter_w <= w),
         "VALID pooling window larger than the input");
  int dims[4] = {in->dims->data[0], 0, 0, in->dims->data[3]};
  dims[1] = out_size(h, d->o.filter_h, d->o.stride_h, d->o.padding_same, &d->pad_top);
  dims[2] = out_size(w, d->o.filter_w, d->o.stride_w, d->o.padding_same, &d->pad_left);
  ENSURE(dims[1] > 0 && dims[2] > 0, "empty output");
  return set_shape(ctx, out, 4, dims);
}

static TfLiteStatus pool_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  pool_data* d = (pool_data*)node->user_data;
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out && data_ok(in) && data_ok(out), "unallocated tensor");
  ENSURE(checked_count(out, 4) > 0 && out->dims->data[3] == in->dims->data[3] &&
             out->dims->data[0] == in->dims->data[0],
         "output shape mismatch");
  bnn_maxpool(in->data.i32, in->dims->data[0], in->dims->data[1], in->dims->data[2],
              in->dims->data[3], d->o.filter_h, d->o.filter_w, d->o.stride_h, d->o.stride_w,
              d->pad_top, d->pad_left, out->dims->data[1], out->dims->data[2], out->data.i32,
              threads_of(ctx, &d->cfg));
  return kTfLiteOk;
}

/* ================================================================== LceBconv2d */
#undef OPNAME
#define OPNAME "LceBconv2d"
typedef struct {
  op_options o;
  bnn_bconv_shape shape;
  int prof_slot;
  bnn_bconv* op;
  int in_kind;          /* 0 packed int32, 1 float32, 2 int8 */
  int32_t* packed_in;   /* scratch for float / int8 input */
  size_t packed_words;
  int32_t* packed_filter; /* float OHWI filters, packed at prepare */
  float* mulbias;         /* int8 multiplier / bias, dequantized */
  run_cfg cfg;
} bconv_data;

static void* bconv_init(TfLiteContext* ctx, const char* buffer, size_t length) {
  (void)ctx;
  bconv_data* d = (bconv_data*)bnn_alloc(sizeof(bconv_data));
  if (!d) return 0;
  memset(d, 0, sizeof(*d));
  d->prof_slot = -1;
  parse_options(buffer, length, 0, &d->o);
  return d;
}

static void bconv_release(bconv_data* d) {
  bnn_bconv_destroy(d->op);
  bnn_free(d->packed_in);
  bnn_free(d->packed_filter);
  bnn_free(d->mulbias);
  d->op = 0;
  d->packed_in = 0;
  d->packed_filter = 0;
  d->mulbias = 0;
}

static void bconv_free(TfLiteContext* ctx, void* p) {
  (void)ctx;
  if (!p) return;
  bconv_release((bconv_data*)p);
  bnn_free(p);
}

static TfLiteStatus read_floats(TfLiteContext* ctx, const TfLiteTensor* t, int n, float* out) {
  ENSURE(t && checked_count(t, 1) == n && data_ok(t), "multiplier/bias must be 1-D [channels_out]");
  if (t->type == kTfLiteFloat32) {
    for (int i = 0; i < n; ++i) out[i] = t->data.f[i];
  } else {
    ENSURE(t->type == kTfLiteInt8, "multiplier/bias must be float32 or int8");
    for (int i = 0; i < n; ++i) out[i] = t->params.scale * (float)((int)t->data.int8[i] - t->params.zero_point);
  }
  return kTfLiteOk;
}

static TfLiteStatus bconv_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  bconv_data* d = (bconv_data*)node->user_data;
  ENSURE(d, "out of memory");
  ENSURE(d->o.ok, d->o.error);
  bconv_release(d);
  d->cfg = cfg_now();
  ENSURE(node->inputs && node->inputs->size == 5 && node->outputs && node->outputs->size == 1,
         "expects 5 inputs (input, filter, multiplier, bias, thresholds) and 1 output");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* filter = tensor_at(ctx, node->inputs, 1);
  TfLiteTensor* mul = tensor_at(ctx, node->inputs, 2);
  TfLiteTensor* bias = tensor_at(ctx, node->inputs, 3);
  TfLiteTensor* thr = tensor_at(ctx, node->inputs, 4);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && filter && out, "missing input, filter or output tensor");
  ENSURE(checked_count(in, 4) > 0, "input must be a valid 4-D tensor");
  ENSURE(checked_count(filter, 4) > 0 && data_ok(filter), "filter must be a constant 4-D tensor");

  bnn_bconv_shape* s = &d->shape;
  memset(s, 0, sizeof(*s));
  s->batch = in->dims->data[0];
  s->in_h = in->dims->data[1];
  s->in_w = in->dims->data[2];
  if (in->type == kTfLiteInt32) {
    d->in_kind = 0;
    ENSURE(d->o.channels_in > 0, "bit-packed input needs the channels_in option");
    s->channels_in = d->o.channels_in;
    ENSURE(in->dims->data[3] == (s->channels_in + 31) / 32,
           "packed input width does not match channels_in");
  } else {
    ENSURE(in->type == kTfLiteFloat32 || in->type == kTfLiteInt8,
           "input must be int32 (bit-packed), float32 or int8");
    d->in_kind = in->type == kTfLiteFloat32 ? 1 : 2;
    s->channels_in = in->dims->data[3];
    ENSURE(!d->o.channels_in || d->o.channels_in == s->channels_in, "channels_in option mismatch");
  }
  s->in_words = (s->channels_in + 31) / 32;
  s->out_c = filter->dims->data[0];
  s->k_h = filter->dims->data[1];
  s->k_w = filter->dims->data[2];
  if (filter->type == kTfLiteInt32) {
    ENSURE(filter->dims->data[3] > 0 && s->in_words % filter->dims->data[3] == 0,
           "packed filter depth does not divide the input words");
    s->groups = s->in_words / filter->dims->data[3];
  } else {
    ENSURE(filter->type == kTfLiteFloat32, "filter must be int32 (bit-packed) or float32");
    ENSURE(s->channels_in % filter->dims->data[3] == 0, "filter depth does not divide channels_in");
    s->groups = s->channels_in / filter->dims->data[3];
  }
  ENSURE(s->groups == 1 || s->channels_in % (32 * s->groups) == 0,
         "grouped convolutions need a multiple of 32 input channels per group");
  ENSURE(s->out_c % s->groups == 0, "groups must divide the output channels");
  s->stride_h = d->o.stride_h;
  s->stride_w = d->o.stride_w;
  s->dil_h = d->o.dil_h;
  s->dil_w = d->o.dil_w;
  const int keh = (s->k_h - 1) * s->dil_h + 1, kew = (s->k_w - 1) * s->dil_w + 1;
  ENSURE(d->o.padding_same || (keh <= s->in_h && kew <= s->in_w),
         "VALID convolution window larger than the input");
  s->out_h = out_size(s->in_h, keh, s->stride_h, d->o.padding_same, &s->pad_top);
  s->out_w = out_size(s->in_w, kew, s->stride_w, d->o.padding_same, &s->pad_left);
  ENSURE(s->out_h > 0 && s->out_w > 0, "empty output");
  s->zero_padding = d->o.padding_same && d->o.pad_values == 0;
  switch (d->o.activation) {
    case 1: s->act_min = 0; s->act_max = INT_MAX_; break;
    case 2: s->act_min = -1; s->act_max = 1; break;
    case 3: s->act_min = 0; s->act_max = 6; break;
    default: s->act_min = INT_MIN_; s->act_max = INT_MAX_;
  }
  ENSURE(!(s->zero_padding && d->o.activation), "fused activations need VALID or one-padding");

  int dims[4] = {s->batch, s->out_h, s->out_w, s->out_c};
  float out_scale = 1.0f;
  int out_zp = 0;
  if (out->type == kTfLiteInt32) {
    s->out_kind = BNN_OUT_BITS;
    ENSURE(!s->zero_padding, "bit-packed output needs VALID or one-padding");
    ENSURE(thr && thr->type == kTfLiteInt32 && checked_count(thr, 1) == s->out_c && data_ok(thr),
           "bit-packed output needs int32 thresholds [channels_out]");
    dims[3] = (s->out_c + 31) / 32;
  } else if (out->type == kTfLiteFloat32 || out->type == kTfLiteInt8) {
    s->out_kind = out->type == kTfLiteFloat32 ? BNN_OUT_FLOAT : BNN_OUT_INT8;
    if (out->type == kTfLiteInt8) {
      ENSURE(out->params.scale > 0.0f, "int8 output needs a positive scale");
      out_scale = out->params.scale;
      out_zp = out->params.zero_point;
    }
    d->mulbias = (float*)bnn_alloc(sizeof(float) * 2 * (size_t)s->out_c);
    ENSURE(d->mulbias, "out of memory");
    if (read_floats(ctx, mul, s->out_c, d->mulbias) != kTfLiteOk) return kTfLiteError;
    if (read_floats(ctx, bias, s->out_c, d->mulbias + s->out_c) != kTfLiteOk) return kTfLiteError;
  } else {
    ENSURE(0, "output must be float32, int8 or int32 (bit-packed)");
  }
  if (set_shape(ctx, out, 4, dims) != kTfLiteOk) return kTfLiteError;

  const int32_t* fdata = filter->data.i32;
  if (filter->type == kTfLiteFloat32) {
    const int cin_g = filter->dims->data[3];
    const int taps_total = s->out_c * s->k_h * s->k_w;
    d->packed_filter = (int32_t*)bnn_alloc(sizeof(int32_t) * (size_t)taps_total * ((cin_g + 31) / 32));
    ENSURE(d->packed_filter, "out of memory");
    bnn_pack_float(filter->data.f, taps_total, cin_g, d->packed_filter, 1, d->cfg.isa);
    fdata = d->packed_filter;
  }
  if (d->in_kind) {
    d->packed_words = (size_t)s->batch * s->in_h * s->in_w * s->in_words;
    d->packed_in = (int32_t*)bnn_alloc(sizeof(int32_t) * d->packed_words);
    ENSURE(d->packed_in, "out of memory");
  }
  const char* err = 0;
  d->op = bnn_bconv_create(s, fdata, d->mulbias, d->mulbias ? d->mulbias + s->out_c : 0,
                           thr ? thr->data.i32 : 0, out_scale, out_zp, d->cfg.isa, &err);
  ENSURE(d->op, err ? err : "could not set up the convolution");
  if (profiling() && d->prof_slot < 0 && prof_n < BNN_PROF_MAX) d->prof_slot = prof_n++;
  if (d->prof_slot >= 0) {
    prof[d->prof_slot].shape = *s;
    prof[d->prof_slot].ns = prof[d->prof_slot].calls = 0;
  }
  return kTfLiteOk;
}

static TfLiteStatus bconv_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  bconv_data* d = (bconv_data*)node->user_data;
  ENSURE(d && d->op, "not prepared");
  TfLiteTensor* in = tensor_at(ctx, node->inputs, 0);
  TfLiteTensor* out = tensor_at(ctx, node->outputs, 0);
  ENSURE(in && out && data_ok(in) && data_ok(out), "unallocated tensor");
  const bnn_bconv_shape* s = &d->shape;
  const int64_t in_elems = (int64_t)s->batch * s->in_h * s->in_w *
                           (d->in_kind ? s->channels_in : s->in_words);
  const int out_last = s->out_kind == BNN_OUT_BITS ? (s->out_c + 31) / 32 : s->out_c;
  ENSURE(checked_count(in, 4) == in_elems, "input shape changed after prepare");
  ENSURE(checked_count(out, 4) == (int64_t)s->batch * s->out_h * s->out_w * out_last,
         "output shape changed after prepare");
  const int threads = threads_of(ctx, &d->cfg);
  const int32_t* packed = in->data.i32;
  if (d->in_kind == 1) {
    bnn_pack_float(in->data.f, s->batch * s->in_h * s->in_w, s->channels_in, d->packed_in, threads,
                   d->cfg.isa);
    packed = d->packed_in;
  } else if (d->in_kind == 2) {
    bnn_pack_int8(in->data.int8, s->batch * s->in_h * s->in_w, s->channels_in,
                  in->params.zero_point, d->packed_in, threads);
    packed = d->packed_in;
  }
  const int64_t t0 = d->prof_slot >= 0 ? now_ns() : 0;
  bnn_bconv_run(d->op, packed, out->data.raw, threads);
  if (d->prof_slot >= 0) {
    prof[d->prof_slot].ns += now_ns() - t0;
    prof[d->prof_slot].calls += 1;
  }
  return kTfLiteOk;
}

/* ================================================================== registration */
static TfLiteRegistration reg_quantize, reg_dequantize, reg_bconv, reg_bmaxpool;
static int regs_ready = 0;

static void init_regs(void) {
  if (regs_ready) return;
  memset(&reg_quantize, 0, sizeof(TfLiteRegistration));
  memset(&reg_dequantize, 0, sizeof(TfLiteRegistration));
  memset(&reg_bconv, 0, sizeof(TfLiteRegistration));
  memset(&reg_bmaxpool, 0, sizeof(TfLiteRegistration));
  reg_quantize.init = cfg_init;
  reg_quantize.free = plain_free;
  reg_quantize.prepare = quantize_prepare;
  reg_quantize.invoke = quantize_invoke;
  reg_quantize.custom_name = "LceQuantize";
  reg_dequantize.prepare = dequantize_prepare;
  reg_dequantize.invoke = dequantize_invoke;
  reg_dequantize.custom_name = "LceDequantize";
  reg_bconv.init = bconv_init;
  reg_bconv.free = bconv_free;
  reg_bconv.prepare = bconv_prepare;
  reg_bconv.invoke = bconv_invoke;
  reg_bconv.custom_name = "LceBconv2d";
  reg_bmaxpool.init = pool_init;
  reg_bmaxpool.free = plain_free;
  reg_bmaxpool.prepare = pool_prepare;
  reg_bmaxpool.invoke = pool_invoke;
  reg_bmaxpool.custom_name = "LceBMaxPool2d";
  reg_quantize.version = reg_dequantize.version = reg_bconv.version = reg_bmaxpool.version = 1;
  reg_quantize.builtin_code = reg_dequantize.builtin_code = reg_bconv.builtin_code =
      reg_bmaxpool.builtin_code = 32; /* BuiltinOperator_CUSTOM */
  regs_ready = 1;
}

/* For the fusing delegate (bnn_delegate.c): the LceBconv2d kernel, whose instances it drives, and
 * an instance's prepared convolution when it reads bit-packed input (else NULL). */
const TfLiteRegistration* bnn_bconv_registration(void) {
  init_regs();
  return &reg_bconv;
}

const bnn_bconv* bnn_bconv_prepared(const void* user_data) {
  const bconv_data* d = (const bconv_data*)user_data;
  return d && d->op && d->in_kind == 0 ? d->op : 0;
}

int bnn_bconv_run_fused(void* user_data, const int32_t* input, const bnn_epilogue* e, int threads) {
  bconv_data* d = (bconv_data*)user_data;
  if (!bnn_bconv_prepared(d)) return -1;
  const int64_t t0 = d->prof_slot >= 0 ? now_ns() : 0;
  const int rc = bnn_bconv_run_epilogue(d->op, input, e, threads);
  if (d->prof_slot >= 0) {
    prof[d->prof_slot].ns += now_ns() - t0;
    prof[d->prof_slot].calls += 1;
  }
  return rc;
}

/* Time of the delegate's other passes (BNN_PASS_KINDS: 0 batch norm + sign, 1 concatenation +
 * add, 2 max pool, 3 upsample + add). */
static int64_t pass_ns[BNN_PASS_KINDS], pass_calls[BNN_PASS_KINDS];

int64_t bnn_profile_clock(void) { return profiling() ? now_ns() : 0; }

void bnn_profile_pass(int kind, int64_t t0) {
  if (!t0 || kind < 0 || kind >= BNN_PASS_KINDS) return;
  pass_ns[kind] += now_ns() - t0;
  pass_calls[kind] += 1;
}

/* Registration i (0, 1, ...) of every op, NULL past the last; each carries its custom_name. */
BNN_API const TfLiteRegistration* bnn_registration_at(int i) {
  init_regs();
  const TfLiteRegistration* const all[] = {&reg_quantize, &reg_dequantize, &reg_bconv, &reg_bmaxpool};
  return i >= 0 && i < (int)(sizeof(all) / sizeof(all[0])) ? all[i] : 0;
}

/* Register all ops with a tflite::MutableOpResolver, given its address and the address of
 * `tflite::MutableOpResolver::AddCustom(const char*, const TfLiteRegistration*, int)`. */
typedef void (*add_custom_fn)(void* self, const char* name, const TfLiteRegistration* reg,
                              int version);
BNN_API int bnn_register(void* resolver, void* add_custom) {
  if (!resolver || !add_custom) return -1;
  init_regs();
  add_custom_fn fn = (add_custom_fn)add_custom;
  const TfLiteRegistration* reg;
  for (int i = 0; (reg = bnn_registration_at(i)); ++i) fn(resolver, reg->custom_name, reg, 1);
  return 0;
}

/* Parse LceBconv2d (pool = 0) or LceBMaxPool2d (pool = 1) custom options as Init does: 1 if
 * valid, else 0 with the reason in *error. For fuzzing the parser on its own. */
BNN_API int bnn_check_options(const char* buffer, size_t length, int pool, const char** error) {
  op_options o;
  parse_options(buffer, length, pool, &o);
  if (error) *error = o.ok ? 0 : o.error;
  return o.ok;
}

BNN_API const char* bnn_version(void) { return BNN_VERSION; }
BNN_API int bnn_isa(void) { return bnn_selected_isa(); }
BNN_API size_t bnn_registration_size(void) { return sizeof(TfLiteRegistration); }

BNN_API void bnn_profile_enable(int on) { prof_on = on; }
BNN_API void bnn_profile_reset(void) { prof_n = 0; }
BNN_API void bnn_profile_zero(void) {
  for (int i = 0; i < prof_n; ++i) prof[i].ns = prof[i].calls = 0;
  for (int k = 0; k < BNN_PASS_KINDS; ++k) pass_ns[k] = pass_calls[k] = 0;
}

/* The fusing delegate's passes since the last zero: {ns, calls} of each of its BNN_PASS_KINDS kinds
 * (batch norm + sign, concatenation + add, max pool, upsample + add). */
BNN_API void bnn_profile_passes(int64_t* out) {
  for (int k = 0; k < BNN_PASS_KINDS; ++k) out[2 * k] = pass_ns[k], out[2 * k + 1] = pass_calls[k];
}

/* One line per profiled bconv instance:
 * "in_h in_w channels_in out_h out_w out_c k_h k_w stride groups out_kind calls ns\n".
 * Returns the number of bytes needed (like snprintf). */
BNN_API int bnn_profile_text(char* buf, int cap) {
#ifndef BNN_FREESTANDING
  int used = 0;
  for (int i = 0; i < prof_n; ++i) {
    const bnn_bconv_shape* s = &prof[i].shape;
    char line[256];
    const int n = snprintf(line, sizeof(line), "%d %d %d %d %d %d %d %d %d %d %d %lld %lld\n", s->in_h,
                           s->in_w, s->channels_in, s->out_h, s->out_w, s->out_c, s->k_h, s->k_w,
                           s->stride_h, s->groups, s->out_kind, (long long)prof[i].calls,
                           (long long)prof[i].ns);
    if (buf && used + n < cap) memcpy(buf + used, line, (size_t)n + 1);
    used += n;
  }
  return used;
#else
  (void)buf;
  (void)cap;
  return 0;
#endif
}
