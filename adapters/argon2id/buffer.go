package argon2id

import "github.com/gatehouse/gatehouse/adapters/argon2id/internal/argon2"

// buffer is one hashing slot's argon2 memory, reused by every hash run in
// that slot. It is allocated at the slot's first use, so slots a quiet
// service never needs cost nothing, and outside the Go heap where the
// platform allows (see mapBlocks).
type buffer struct {
	blocks []argon2.Block
	// mapped is the memory mapping behind blocks, nil while blocks is
	// unallocated or on the Go heap.
	mapped []byte
}

// get returns the buffer's blocks, allocating n of them at first use.
func (b *buffer) get(n uint32) []argon2.Block {
	if b.blocks == nil {
		b.blocks, b.mapped = mapBlocks(n)
	}
	return b.blocks
}

// freeBuffers releases the buffers of a Hasher that has become unreachable.
// No hash can be running then (a running hash keeps its Hasher reachable
// until it gives its buffer back), so every buffer is in slots.
func freeBuffers(slots chan *buffer) {
	for {
		select {
		case b := <-slots:
			if b.mapped != nil {
				unmapBlocks(b.mapped)
			}
			b.blocks, b.mapped = nil, nil
		default:
			return
		}
	}
}
