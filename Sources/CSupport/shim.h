// Compiler intrinsics and libc settings Swift has no spelling for, as static inline functions.
#ifndef SELLO_SUPPORT_H
#define SELLO_SUPPORT_H

#include <malloc.h>

/// Asks for the cache line at `p` ahead of a read (GCC/Clang `__builtin_prefetch`).
static inline void sello_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Has glibc map every block of `bytes` or more and unmap it when freed (its default raises
/// this threshold at run time and keeps such blocks in its heap).
static inline void sello_map_large_blocks(int bytes) { (void)mallopt(M_MMAP_THRESHOLD, bytes); }

#endif
