package argon2id

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// cheap are fast parameters for tests that are not about cost.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, o Options) *Hasher {
	t.Helper()
	h, err := NewWithOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashIsPHCWithOWASPParameters(t *testing.T) {
	t.Parallel()
	h := New()
	if diff := cmp.Diff(DefaultParams(), h.Params()); diff != "" {
		t.Fatalf("params (-want +got):\n%s", diff)
	}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Fatalf("got %q, want a match for %s", enc, re)
	}
	d, err := parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultParams(), d.params); diff != "" {
		t.Errorf("parsed params (-want +got):\n%s", diff)
	}
	if got := encode(d.params, d.salt, d.key); got != enc {
		t.Errorf("round trip: got %q, want %q", got, enc)
	}
	ok, rehash, err := h.Verify("correct horse battery staple", enc)
	if !ok || rehash || err != nil {
		t.Errorf("Verify: got %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestTwoHashesDiffer(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap})
	a, err := h.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("got the same encoding twice: %q", a)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap})
	const pw = "Tr0ub4dor & 3 🐎 long passphrase"
	enc, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"exact", pw, true},
		{"wrong", "password123", false},
		{"empty", "", false},
		{"case changed", strings.ToUpper(pw), false},
		{"trailing space", pw + " ", false},
		{"leading space", " " + pw, false},
		{"truncated", pw[:len(pw)-1], false},
		{"prefix of 8", pw[:8], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := h.Verify(tt.pw, enc)
			if err != nil || ok != tt.want || rehash {
				t.Fatalf("got %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	t.Parallel()
	old := newHasher(t, Options{Params: Params{Memory: 4096, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}})
	enc, err := old.Hash("hunter22hunter22")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=4096,t=2,p=1$") {
		t.Fatalf("got %q", enc)
	}
	current := New()
	tests := []struct {
		name       string
		h          *Hasher
		pw         string
		ok, rehash bool
	}{
		{"older memory cost, right password", current, "hunter22hunter22", true, true},
		{"older memory cost, wrong password", current, "hunter22hunter2", false, false},
		{"same parameters", old, "hunter22hunter22", true, false},
		{"other salt length", newHasher(t, Options{Params: Params{Memory: 4096, Time: 2, Threads: 1, SaltLen: 32, KeyLen: 32}}), "hunter22hunter22", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := tt.h.Verify(tt.pw, enc)
			if err != nil || ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("got %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
	// The upgrade: after a rehash the stored string carries the current
	// parameters and verifies without needing another.
	upgraded, err := current.Hash("hunter22hunter22")
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := current.Verify("hunter22hunter22", upgraded); !ok || rehash || err != nil {
		t.Fatalf("after upgrade: got %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

// Corrupt or hostile stored strings are refused as KindInternal before any
// hashing. The hasher used here has one slot, held by the test, and a tiny
// wait: had Verify gone as far as the KDF it would report KindUnavailable
// instead.
func TestVerifyRejectsCorruptBeforeHashing(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 1, MaxWait: time.Millisecond})
	b, err := h.acquire("test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.release(b)
	salt, key := "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := parse(valid); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version field", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"4 GiB memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"256 MiB + 1 KiB", "$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + key},
		{"1000 passes", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key},
		{"17 passes", "$argon2id$v=19$m=64,t=17,p=1$" + salt + "$" + key},
		{"255 lanes", "$argon2id$v=19$m=4096,t=1,p=255$" + salt + "$" + key},
		{"9 lanes", "$argon2id$v=19$m=4096,t=1,p=9$" + salt + "$" + key},
		{"zero passes", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"uint32 overflow", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"parameters reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"extra parameter", "$argon2id$v=19$m=64,t=1,p=1,k=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", valid + "$x"},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"url alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "_$" + key},
		{"newline in salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:10] + "\n" + salt[10:] + "$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
		{"salt absurdly long", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 200) + "$" + key},
		{"string absurdly long", valid + strings.Repeat("A", 1<<20)},
		{"non-canonical base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "B$" + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := h.Verify("password", tt.enc)
			if ok || rehash || domain.KindOf(err) != domain.KindInternal || err == nil {
				t.Fatalf("got %v, %v, %v; want false, false, a KindInternal error", ok, rehash, err)
			}
			if !errors.Is(err, errCorrupt) {
				t.Errorf("got %v, want it to wrap errCorrupt", err)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 1, MaxWait: time.Millisecond})
	enc, err := h.Hash("password-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.acquire("test")
	if err != nil {
		t.Fatal(err)
	}
	_, herr := h.Hash("password-1")
	_, _, verr := h.Verify("password-1", enc)
	h.DummyVerify("password-1") // returns instead of blocking
	h.release(b)
	for name, err := range map[string]error{"Hash": herr, "Verify": verr} {
		if domain.KindOf(err) != domain.KindUnavailable || !errors.Is(err, ErrBusy) {
			t.Errorf("%s while saturated: got %v, want KindUnavailable wrapping ErrBusy", name, err)
		}
	}
	if ok, _, err := h.Verify("password-1", enc); !ok || err != nil {
		t.Errorf("after release: got %v, %v; want true, nil", ok, err)
	}
}

// Concurrent callers beyond MaxConcurrent wait for a slot rather than fail
// when slots free up in time, and every slot is given back.
func TestConcurrentCallersWaitForASlot(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap, MaxConcurrent: 2, MaxWait: time.Minute})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := h.Hash("password-1"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := cap(h.slots) - len(h.slots); got != 0 {
		t.Errorf("got %d slots held after all returned, want 0", got)
	}
}

func TestDummyVerifyUsesCurrentParameters(t *testing.T) {
	t.Parallel()
	h := newHasher(t, Options{Params: cheap})
	if len(h.dummySalt) != int(cheap.SaltLen) || len(h.dummyKey) != int(cheap.KeyLen) {
		t.Fatalf("got dummy salt %d and key %d bytes, want %d and %d", len(h.dummySalt), len(h.dummyKey), cheap.SaltLen, cheap.KeyLen)
	}
	h.DummyVerify("whatever")
	if got := cap(h.slots) - len(h.slots); got != 0 {
		t.Errorf("DummyVerify left %d slots held, want 0", got)
	}
}

func TestNewWithOptionsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
	}{
		{"memory too large", Options{Params: Params{Memory: MaxMemoryKiB + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}},
		{"short salt", Options{Params: Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}}},
		{"short key", Options{Params: Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}}},
		{"failing rand", Options{Params: cheap, Rand: iotest.ErrReader(errors.New("no entropy"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewWithOptions(tt.o); domain.KindOf(err) != domain.KindInternal || err == nil {
				t.Fatalf("got %v, want KindInternal", err)
			}
		})
	}
}

// failAfter reads n bytes from r, then fails.
type failAfter struct{ n int }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("entropy exhausted")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	for i := range p {
		p[i] = 7
	}
	f.n -= len(p)
	return len(p), nil
}

func TestHashRandFailure(t *testing.T) {
	t.Parallel()
	// The constructor draws the dummy salt and key, then Hash finds nothing.
	h := newHasher(t, Options{Params: cheap, Rand: &failAfter{n: int(cheap.SaltLen + cheap.KeyLen)}})
	if _, err := h.Hash("password-1"); domain.KindOf(err) != domain.KindInternal || err == nil {
		t.Fatalf("got %v, want KindInternal", err)
	}
}

func FuzzParse(f *testing.F) {
	h := newHasher(f, Options{Params: cheap})
	enc, _ := h.Hash("seed")
	for _, s := range []string{
		enc,
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNh\nbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"", "$", "$$$$$", "$argon2id$v=19$m=,t=,p=$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parse(s)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("parse(%q): got %v, want errCorrupt", s, err)
			}
			return
		}
		if verr := d.params.validate(); verr != nil {
			t.Fatalf("parse(%q) accepted out-of-bounds parameters: %v", s, verr)
		}
		if got := encode(d.params, d.salt, d.key); got != s {
			t.Fatalf("parse(%q) accepted a non-canonical string; it encodes back as %q", s, got)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New()
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify("correct horse battery staple", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkVerifyParallel verifies from GOMAXPROCS goroutines, as a login
// load does: with per-call argon2 memory its GC cost shows here.
func BenchmarkVerifyParallel(b *testing.B) {
	h := New()
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify("correct horse battery staple", enc); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}
