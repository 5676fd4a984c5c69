// Compiler intrinsics Swift has no spelling for, as static inline functions (inlined).
#ifndef SELLO_SUPPORT_H
#define SELLO_SUPPORT_H

/// Asks for the cache line at `p` ahead of a read (GCC/Clang `__builtin_prefetch`).
static inline void sello_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
