package argon2id

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	xargon2 "golang.org/x/crypto/argon2"
)

// stored is a PHC string made with the unmodified golang.org/x/crypto/argon2,
// so that checks against it do not trust the code under test.
func stored(t testing.TB, p Params, password string, saltByte byte) string {
	t.Helper()
	salt := bytes.Repeat([]byte{saltByte}, int(p.SaltLen))
	return encode(p, salt, xargon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen))
}

// Many goroutines hash and verify at once through two slots, with stored
// hashes that fit the slot buffers, need only part of them, and need more
// than they hold. Every result must match x/crypto's. Run with -race.
func TestConcurrentHashAndVerify(t *testing.T) {
	t.Parallel()
	current := Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, Options{Params: current, MaxConcurrent: 2, MaxWait: time.Minute})
	others := []Params{
		current,
		{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},  // a prefix of the buffer
		{Memory: 203, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 20},  // a prefix, two lanes, rounded down
		{Memory: 257, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, // rounds down to the buffer's size
		{Memory: 600, Time: 1, Threads: 3, SaltLen: 24, KeyLen: 64}, // more than the buffer holds
	}
	type fixture struct {
		password, enc string
		rehash        bool
	}
	var fixtures []fixture
	for i, p := range others {
		pw := fmt.Sprintf("stored password %d", i)
		fixtures = append(fixtures, fixture{pw, stored(t, p, pw, byte(i)), p != current})
	}

	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			pw := fmt.Sprintf("password of goroutine %d", g)
			enc, err := h.Hash(pw)
			if err != nil {
				t.Errorf("goroutine %d: Hash: %v", g, err)
				return
			}
			d, err := parse(enc)
			if err != nil {
				t.Errorf("goroutine %d: parse(%q): %v", g, enc, err)
				return
			}
			if want := xargon2.IDKey([]byte(pw), d.salt, current.Time, current.Memory, current.Threads, current.KeyLen); d.params != current || !bytes.Equal(d.key, want) {
				t.Errorf("goroutine %d: Hash gave %q, want the key %x with %+v", g, enc, want, current)
			}
			if ok, rehash, err := h.Verify(pw, enc); !ok || rehash || err != nil {
				t.Errorf("goroutine %d: Verify own hash: got %v, %v, %v; want true, false, nil", g, ok, rehash, err)
			}
			if ok, _, err := h.Verify(pw+"!", enc); ok || err != nil {
				t.Errorf("goroutine %d: Verify wrong password: got %v, %v; want false, nil", g, ok, err)
			}
			f := fixtures[g%len(fixtures)]
			if ok, rehash, err := h.Verify(f.password, f.enc); !ok || rehash != f.rehash || err != nil {
				t.Errorf("goroutine %d: Verify %q: got %v, %v, %v; want true, %v, nil", g, f.enc, ok, rehash, err, f.rehash)
			}
			if ok, _, err := h.Verify(pw, f.enc); ok || err != nil {
				t.Errorf("goroutine %d: Verify %q with another password: got %v, %v; want false, nil", g, f.enc, ok, err)
			}
			h.DummyVerify(pw)
		})
	}
	wg.Wait()
	if got := cap(h.slots) - len(h.slots); got != 0 {
		t.Errorf("got %d slots held after all returned, want 0", got)
	}
}

// A slot allocates its buffer once, at first use, for the current
// parameters, and keeps it: cheaper stored hashes use a prefix, costlier
// ones a one-off buffer that the slot does not keep.
func TestSlotBufferIsAllocatedOnceAndReused(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 1})
	slot := func() *buffer {
		t.Helper()
		b, err := h.acquire("test")
		if err != nil {
			t.Fatal(err)
		}
		h.release(b)
		return b
	}
	b := slot()
	if b.blocks != nil {
		t.Fatalf("slot buffer allocated before first use: %d blocks", len(b.blocks))
	}
	enc, err := h.Hash("password-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := slot(); got != b || len(b.blocks) != int(cheap.Memory) {
		t.Fatalf("after the first hash: slot buffer has %d blocks, want %d", len(got.blocks), cheap.Memory)
	}
	first := &b.blocks[0]
	for _, tt := range []struct {
		name, password, enc string
	}{
		{"own hash", "password-1", enc},
		{"smaller memory", "password-2", stored(t, Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "password-2", 2)},
		{"larger memory", "password-3", stored(t, Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "password-3", 3)},
		{"more lanes", "password-4", stored(t, Params{Memory: 96, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, "password-4", 4)},
	} {
		if ok, _, err := h.Verify(tt.password, tt.enc); !ok || err != nil {
			t.Errorf("%s: got %v, %v; want true, nil", tt.name, ok, err)
		}
		if got := slot(); got != b || len(b.blocks) != int(cheap.Memory) || &b.blocks[0] != first {
			t.Errorf("%s: slot buffer replaced or resized (%d blocks, want %d)", tt.name, len(got.blocks), cheap.Memory)
		}
	}
}

func TestFreeBuffers(t *testing.T) {
	t.Parallel()
	slots := make(chan *buffer, 3)
	used, unused := new(buffer), new(buffer)
	used.get(64)[63][127] = 1 // the memory is writable
	slots <- used
	slots <- unused
	freeBuffers(slots)
	if len(slots) != 0 {
		t.Errorf("%d buffers left in slots, want 0", len(slots))
	}
	for name, b := range map[string]*buffer{"used": used, "unused": unused} {
		if b.blocks != nil || b.mapped != nil {
			t.Errorf("%s buffer not released: %d blocks, %d bytes mapped", name, len(b.blocks), len(b.mapped))
		}
	}
}

// Hashing in a slot's buffer allocates next to nothing on the Go heap: ten
// verifications at 1 MiB together allocate less than one such buffer would.
// Not parallel, so other tests' allocations do not count.
func TestVerifyDoesNotAllocateArgon2Memory(t *testing.T) {
	p := Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, Options{Params: p, MaxConcurrent: 1})
	enc, err := h.Hash("password-1") // allocates the slot's buffer
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if ok, _, err := h.Verify("password-1", enc); !ok || err != nil {
			t.Fatalf("got %v, %v; want true, nil", ok, err)
		}
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(p.Memory)*1024; got >= limit {
		t.Errorf("10 verifications allocated %d bytes on the Go heap, want less than %d", got, limit)
	}
}
