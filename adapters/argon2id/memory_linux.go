package argon2id

import "syscall"

// adviseHugePages asks Linux to back m with transparent huge pages
// (MADV_HUGEPAGE; most systems enable them only where asked,
// transparent_hugepage=madvise). argon2 reads its memory at
// data-dependent places, so with 4 KiB pages nearly every block it
// references misses the TLB: with 2 MiB pages a hash at the default
// parameters takes about a tenth less CPU. The hash and its cost
// parameters are the same either way. Failure (no THP in this kernel) is
// harmless and ignored.
func adviseHugePages(m []byte) { _ = syscall.Madvise(m, syscall.MADV_HUGEPAGE) }
