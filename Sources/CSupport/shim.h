// Compiler intrinsics and libc settings Swift has no spelling for, as static inline functions.
#ifndef SELLO_SUPPORT_H
#define SELLO_SUPPORT_H

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// Asks for the cache line at `p` ahead of a read (GCC/Clang `__builtin_prefetch`).
static inline void sello_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Has glibc map every block of `bytes` or more and unmap it when freed (its default raises
/// this threshold at run time and keeps such blocks in its heap).
static inline void sello_map_large_blocks(int bytes) { (void)mallopt(M_MMAP_THRESHOLD, bytes); }

/// Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with huge pages when
/// first touched (transparent huge pages in `madvise` mode, Debian's default). A no-op where
/// the kernel has them off.
static inline void sello_advise_huge(void *p, size_t bytes) {
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

/// Lowers the calling thread's scheduling priority by `nice` steps (Linux: a thread is a task).
static inline void sello_nice_thread(int nice) { (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice); }

/// Bit i set when p[i] == c, for the 64 bytes at p (all of them are read).
///
/// Why: splitting a CSV line on commas field by field mispredicted a branch at every field's
/// end; with the commas of 64 bytes as one mask, fields come from its set bits.
static inline uint64_t sello_byte_mask64(const uint8_t *p, uint8_t c) {
#if defined(__SSE2__)
    const __m128i v = _mm_set1_epi8((char)c);
    uint64_t m0 = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), v));
    uint64_t m1 = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), v));
    uint64_t m2 = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), v));
    uint64_t m3 = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), v));
    return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
#else
    uint64_t m = 0;
    for (int i = 0; i < 64; i++) m |= (uint64_t)(p[i] == c) << i;
    return m;
#endif
}

#endif
