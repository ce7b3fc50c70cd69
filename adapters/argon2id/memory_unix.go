//go:build unix

package argon2id

import (
	"syscall"
	"unsafe"

	"github.com/gatehouse/gatehouse/adapters/argon2id/internal/argon2"
)

// mapBlocks returns n argon2 blocks in an anonymous private mapping, outside
// the Go heap so that they do not raise the GC's heap target, and the
// mapping, advised to use huge pages where the system has them (see
// adviseHugePages). If mapping fails the blocks are on the Go heap and the mapping is
// nil.
func mapBlocks(n uint32) ([]argon2.Block, []byte) {
	size := int(n) * int(unsafe.Sizeof(argon2.Block{}))
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]argon2.Block, n), nil
	}
	adviseHugePages(m)
	// A mapping is page-aligned, so aligned for the blocks' uint64s.
	return unsafe.Slice((*argon2.Block)(unsafe.Pointer(unsafe.SliceData(m))), n), m
}

// unmapBlocks releases a mapping from mapBlocks; its blocks must not be used
// afterwards.
func unmapBlocks(m []byte) { _ = syscall.Munmap(m) }
