/* jni.h includes <stdio.h> but uses nothing from it; the freestanding build has no libc headers. */
#ifndef BNN_SHIM_STDIO_H_
#define BNN_SHIM_STDIO_H_
#endif
