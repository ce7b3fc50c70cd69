//go:build !unix

package argon2id

import "github.com/gatehouse/gatehouse/adapters/argon2id/internal/argon2"

// mapBlocks returns n argon2 blocks on the Go heap and a nil mapping: this
// platform has no anonymous mmap.
func mapBlocks(n uint32) ([]argon2.Block, []byte) {
	return make([]argon2.Block, n), nil
}

// unmapBlocks is never called here, as mapBlocks maps nothing.
func unmapBlocks([]byte) {}
