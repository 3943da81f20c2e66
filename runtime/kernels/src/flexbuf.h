/* A minimal, bounds-checked reader for the FlexBuffers maps that LCE's converter writes as custom
 * op options (ints, bools and strings keyed by name). */
#ifndef BNN_FLEXBUF_H_
#define BNN_FLEXBUF_H_
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t* buf;
  size_t len;
  size_t map;      /* position of the first value */
  int width;       /* byte width of the map's values */
  size_t size;     /* number of entries */
  size_t keys;     /* position of the keys vector */
  int key_width;
} bnn_flexmap;

/* 0 on success, -1 when the buffer is not a well-formed map. */
int bnn_flexmap_open(const uint8_t* buf, size_t len, bnn_flexmap* m);
/* Look up an integer-valued (int, uint, bool, indirect int) key: 1 found, 0 absent, -1 bad. */
int bnn_flexmap_int(const bnn_flexmap* m, const char* key, int64_t* out);
/* Look up a string-valued key; copies at most cap-1 bytes: 1 found, 0 absent, -1 bad. */
int bnn_flexmap_str(const bnn_flexmap* m, const char* key, char* out, size_t cap);
#endif
