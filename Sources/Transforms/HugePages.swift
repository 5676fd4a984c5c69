import CSupport

/// Asks for huge (2 MiB) pages under a large table read and written at random places, before
/// its first touch.
///
/// Why: the pending map, the delta tables and the key dictionary are tens of MB probed at
/// random; with 4 KiB pages nearly every probe also missed the TLB, and under a hypervisor a
/// TLB miss walks two page tables. Measured on the 5 M benchmark (interleaved dry runs, the
/// same binary with and without glibc's `hugetlb` tunable): 6.7 s against 7.4 s.
/// Tables filled in full anyway cost no more memory; growing ones at most 2 MiB more.
@inline(__always)
func adviseHugePages<T>(_ p: UnsafeMutablePointer<T>, count: Int) {
    sello_advise_huge(p, count * MemoryLayout<T>.stride)
}
