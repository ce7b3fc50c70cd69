//go:build unix

package argon2id

import (
	"testing"
	"unsafe"
)

// On unix a slot's buffer is an anonymous mapping outside the Go heap.
func TestSlotBufferIsMapped(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 1})
	if _, err := h.Hash("password-1"); err != nil {
		t.Fatal(err)
	}
	b, err := h.acquire("test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.release(b)
	size := int(cheap.Memory) * int(unsafe.Sizeof(b.blocks[0]))
	if len(b.mapped) != size || len(b.blocks) != int(cheap.Memory) {
		t.Fatalf("got %d blocks in %d mapped bytes, want %d blocks in %d", len(b.blocks), len(b.mapped), cheap.Memory, size)
	}
	if unsafe.Pointer(&b.blocks[0]) != unsafe.Pointer(&b.mapped[0]) {
		t.Fatal("the blocks are not the mapping")
	}
}
