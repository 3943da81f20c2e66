/* Declarations of the freestanding shim (shim.c). */
#ifndef BNN_SHIM_H_
#define BNN_SHIM_H_
#include <stdarg.h>
#include <stddef.h>

void* malloc(size_t n);
void free(void* p);
void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
int strcmp(const char* a, const char* b);
size_t strlen(const char* s);
int bnn_vformat(char* buf, size_t cap, const char* fmt, va_list ap);

#endif
