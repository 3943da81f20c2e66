#include "flexbuf.h"

enum {
  FBT_NULL = 0, FBT_INT = 1, FBT_UINT = 2, FBT_FLOAT = 3, FBT_KEY = 4, FBT_STRING = 5,
  FBT_INDIRECT_INT = 6, FBT_INDIRECT_UINT = 7, FBT_MAP = 9, FBT_BOOL = 26
};

static int rd_u(const uint8_t* b, size_t len, size_t pos, int w, uint64_t* v) {
  if (w != 1 && w != 2 && w != 4 && w != 8) return -1;
  if (pos > len || len - pos < (size_t)w) return -1;
  uint64_t x = 0;
  for (int i = w - 1; i >= 0; --i) x = (x << 8) | b[pos + i];
  *v = x;
  return 0;
}

static int rd_i(const uint8_t* b, size_t len, size_t pos, int w, int64_t* v) {
  uint64_t u;
  if (rd_u(b, len, pos, w, &u)) return -1;
  if (w < 8 && (u >> (8 * w - 1)) & 1) u |= ~(uint64_t)0 << (8 * w);
  *v = (int64_t)u;
  return 0;
}

/* follow an offset stored at pos (width w): target = pos - offset */
static int deref(const uint8_t* b, size_t len, size_t pos, int w, size_t* target) {
  uint64_t off;
  if (rd_u(b, len, pos, w, &off)) return -1;
  if (off > pos) return -1;
  *target = pos - (size_t)off;
  return 0;
}

int bnn_flexmap_open(const uint8_t* buf, size_t len, bnn_flexmap* m) {
  if (!buf || len < 3) return -1;
  const int root_w = buf[len - 1];
  const uint8_t packed = buf[len - 2];
  if ((packed >> 2) != FBT_MAP) return -1;
  if ((size_t)root_w + 2 > len) return -1;
  const size_t root = len - 2 - (size_t)root_w;
  size_t mp;
  if (deref(buf, len, root, root_w, &mp)) return -1;
  const int w = 1 << (packed & 3);
  uint64_t size, kw;
  size_t kv;
  if (mp < 3 * (size_t)w) return -1;
  if (rd_u(buf, len, mp - w, w, &size)) return -1;
  if (rd_u(buf, len, mp - 2 * w, w, &kw)) return -1;
  if (deref(buf, len, mp - 3 * w, w, &kv)) return -1;
  if (size > len || mp + size * (uint64_t)(w + 1) > len) return -1;
  if (kw != 1 && kw != 2 && kw != 4 && kw != 8) return -1;
  if (kv + size * kw > len) return -1;
  m->buf = buf;
  m->len = len;
  m->map = mp;
  m->width = w;
  m->size = (size_t)size;
  m->keys = kv;
  m->key_width = (int)kw;
  return 0;
}

static int key_eq(const bnn_flexmap* m, size_t i, const char* key) {
  size_t s;
  if (deref(m->buf, m->len, m->keys + i * m->key_width, m->key_width, &s)) return -1;
  size_t j = 0;
  for (;; ++j) {
    if (s + j >= m->len) return -1;
    const char c = (char)m->buf[s + j];
    if (c != key[j]) return 0;
    if (c == 0) return 1;
  }
}

static int find(const bnn_flexmap* m, const char* key, size_t* idx) {
  for (size_t i = 0; i < m->size; ++i) {
    const int e = key_eq(m, i, key);
    if (e < 0) return -1;
    if (e) {
      *idx = i;
      return 1;
    }
  }
  return 0;
}

int bnn_flexmap_int(const bnn_flexmap* m, const char* key, int64_t* out) {
  size_t i;
  const int f = find(m, key, &i);
  if (f <= 0) return f;
  const uint8_t pt = m->buf[m->map + m->size * m->width + i];
  const int type = pt >> 2;
  const size_t pos = m->map + i * m->width;
  uint64_t u;
  switch (type) {
    case FBT_INT: return rd_i(m->buf, m->len, pos, m->width, out) ? -1 : 1;
    case FBT_UINT:
    case FBT_BOOL:
      if (rd_u(m->buf, m->len, pos, m->width, &u)) return -1;
      *out = (int64_t)u;
      return 1;
    case FBT_INDIRECT_INT:
    case FBT_INDIRECT_UINT: {
      size_t t;
      if (deref(m->buf, m->len, pos, m->width, &t)) return -1;
      if (type == FBT_INDIRECT_INT) return rd_i(m->buf, m->len, t, 1 << (pt & 3), out) ? -1 : 1;
      if (rd_u(m->buf, m->len, t, 1 << (pt & 3), &u)) return -1;
      *out = (int64_t)u;
      return 1;
    }
    default: return -1;
  }
}

int bnn_flexmap_str(const bnn_flexmap* m, const char* key, char* out, size_t cap) {
  size_t i;
  const int f = find(m, key, &i);
  if (f <= 0) return f;
  const uint8_t pt = m->buf[m->map + m->size * m->width + i];
  if ((pt >> 2) != FBT_STRING && (pt >> 2) != FBT_KEY) return -1;
  size_t s;
  if (deref(m->buf, m->len, m->map + i * m->width, m->width, &s)) return -1;
  size_t j = 0;
  for (; j + 1 < cap; ++j) {
    if (s + j >= m->len) return -1;
    out[j] = (char)m->buf[s + j];
    if (!out[j]) return 1;
  }
  out[j] = 0;
  return 1;
}
