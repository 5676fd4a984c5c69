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

#endif
