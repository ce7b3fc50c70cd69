// Package argon2id hashes passwords with argon2id (RFC 9106) at the OWASP
// Password Storage Cheat Sheet's parameters, m=19456 KiB, t=2, p=1, and
// stores them as PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with a 16-byte salt from crypto/rand, a 32-byte key, both in unpadded
// standard base64. It implements ports.PasswordHasher.
//
// Each hash works in m KiB (19 MiB) of memory, so the Hasher runs at most
// MaxConcurrent at once (GOMAXPROCS by default: with p=1 a hash uses one
// core, so more at once add memory and latency but no throughput). A caller
// waits at most MaxWait for a slot and then gets a domain.KindUnavailable
// error, so a login flood meets quick 503s instead of exhausting memory.
//
// Each slot owns one argon2 buffer, sized for the current parameters,
// allocated at the slot's first use and reused by every later hash in it:
// the hasher computes argon2id with a copy of x/crypto's argon2 that works
// in caller memory (internal/argon2), so a login allocates a few KB instead
// of 19 MiB and leaves the garbage collector next to nothing to do. On unix
// the buffers are anonymous memory mappings outside the Go heap, so they do
// not raise the GC's heap target either; elsewhere they are on the Go heap.
// A buffer stays resident for the Hasher's lifetime, at most
// MaxConcurrent × m KiB in all.
// A stored hash with less memory than the current parameters uses a prefix
// of the slot's buffer; one with more gets a one-off buffer for that call.
//
// Stored strings are parsed strictly and bounded before any hashing
// (m ≤ 256 MiB, t ≤ 16, p ≤ 8, salt 8–64 bytes, key 16–64 bytes), so a
// corrupt or hostile row cannot make the service allocate gigabytes.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/wire"

	"github.com/gatehouse/gatehouse/adapters/argon2id/internal/argon2"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// ProviderSet provides the Hasher with default options as a
// ports.PasswordHasher.
var ProviderSet = wire.NewSet(New, wire.Bind(new(ports.PasswordHasher), new(*Hasher)))

var _ ports.PasswordHasher = (*Hasher)(nil)

// ErrBusy is the cause of the KindUnavailable error returned when no hashing
// slot frees up within MaxWait.
var ErrBusy = errors.New("argon2id: too many password hashes in progress")

// DefaultMaxWait is how long a caller waits for a hashing slot by default:
// long enough to ride out a burst, short enough that a flood is answered
// with 503s well inside any request timeout.
const DefaultMaxWait = 2 * time.Second

// Params are argon2id's cost parameters and output sizes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the OWASP minimum for argon2id: m=19456 KiB, t=2,
// p=1, with a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters, for both stored strings and configuration. Anything
// outside is refused before hashing.
const (
	MaxMemoryKiB = 256 * 1024
	MaxTime      = 16
	MaxThreads   = 8
	MinSaltLen   = 8
	MaxSaltLen   = 64
	MinKeyLen    = 16
	MaxKeyLen    = 64
)

// validate checks p against the bounds; argon2 itself also needs at least
// 8 KiB per lane and one pass.
func (p Params) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("parallelism %d outside 1..%d", p.Threads, MaxThreads)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time cost %d outside 1..%d", p.Time, MaxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemoryKiB:
		return fmt.Errorf("memory %d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), MaxMemoryKiB)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("salt length %d outside %d..%d", p.SaltLen, MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("key length %d outside %d..%d", p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

// Options configure a Hasher. Zero fields take the defaults.
type Options struct {
	// Params are the parameters of new hashes; stored hashes with other
	// parameters still verify and are reported as needing a rehash. Tests
	// may use cheap ones (e.g. m=64, t=1) to run fast.
	Params Params
	// MaxConcurrent bounds hashes running at once (default GOMAXPROCS).
	MaxConcurrent int
	// MaxWait bounds the wait for a slot (default DefaultMaxWait).
	MaxWait time.Duration
	// Rand is the salt source (default crypto/rand.Reader).
	Rand io.Reader
}

// Hasher is an argon2id ports.PasswordHasher. It is safe for concurrent use.
type Hasher struct {
	params Params
	// slots holds the buffers of the hashing slots not in use: a hash
	// takes one and gives it back, so at most MaxConcurrent run at once.
	slots chan *buffer
	// slotBlocks is the size of every slot's buffer, in argon2 blocks.
	slotBlocks uint32
	maxWait    time.Duration
	rand       io.Reader
	// dummySalt and dummyKey make DummyVerify's work identical to a real
	// Verify of a wrong password.
	dummySalt []byte
	dummyKey  []byte
}

// New returns a Hasher with the default options.
func New() *Hasher {
	h, err := NewWithOptions(Options{})
	if err != nil {
		// The defaults are valid and crypto/rand does not fail (Go ≥ 1.24
		// crashes the program rather than return an error).
		panic(err)
	}
	return h
}

// NewWithOptions returns a Hasher with the given options. Parameters outside
// the bounds, or a failing Rand, are a KindInternal error.
func NewWithOptions(o Options) (*Hasher, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams()
	}
	if err := o.Params.validate(); err != nil {
		return nil, domain.Wrap(domain.KindInternal, "argon2id.New", err)
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	h := &Hasher{
		params:     o.Params,
		slots:      make(chan *buffer, o.MaxConcurrent),
		slotBlocks: argon2.Blocks(o.Params.Memory, o.Params.Threads),
		maxWait:    o.MaxWait,
		rand:       o.Rand,
		dummySalt:  make([]byte, o.Params.SaltLen),
		dummyKey:   make([]byte, o.Params.KeyLen),
	}
	for range o.MaxConcurrent {
		h.slots <- new(buffer)
	}
	// Mapped buffers are not garbage collected: unmap them with the Hasher.
	runtime.AddCleanup(h, freeBuffers, h.slots)
	if _, err := io.ReadFull(h.rand, h.dummySalt); err != nil {
		return nil, domain.Wrap(domain.KindInternal, "argon2id.New", err)
	}
	if _, err := io.ReadFull(h.rand, h.dummyKey); err != nil {
		return nil, domain.Wrap(domain.KindInternal, "argon2id.New", err)
	}
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a hashing slot and its buffer, waiting at most maxWait.
func (h *Hasher) acquire(op string) (*buffer, error) {
	select {
	case b := <-h.slots:
		return b, nil
	default:
	}
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case b := <-h.slots:
		return b, nil
	case <-t.C:
		return nil, &domain.Error{Kind: domain.KindUnavailable, Op: op, Msg: "The service is busy. Try again shortly.", Err: ErrBusy}
	}
}

// release gives back a slot taken by acquire.
func (h *Hasher) release(b *buffer) { h.slots <- b }

// key runs argon2id in a slot, in the slot's buffer when p fits in it.
func (h *Hasher) key(op, password string, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	b, err := h.acquire(op)
	if err != nil {
		return nil, err
	}
	// The deferred call also keeps h, and so the buffer's mapping,
	// alive until the hash is done (see freeBuffers).
	defer h.release(b)
	var mem []argon2.Block
	if need := argon2.Blocks(p.Memory, p.Threads); need <= h.slotBlocks {
		mem = b.get(h.slotBlocks)[:need]
	} else {
		// A stored hash costlier than the current parameters: rare,
		// and reported as needing a rehash, so not worth growing the
		// slot's buffer for.
		mem = make([]argon2.Block, need)
	}
	return argon2.IDKeyInto(mem, []byte(password), salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// Hash implements ports.PasswordHasher.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", domain.Wrap(domain.KindInternal, "argon2id.Hash", err)
	}
	k, err := h.key("argon2id.Hash", password, salt, h.params, h.params.KeyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, k), nil
}

// Verify implements ports.PasswordHasher. The stored string is parsed and
// bounded before any hashing; the comparison is constant-time.
func (h *Hasher) Verify(password, encoded string) (ok bool, needsRehash bool, err error) {
	d, err := parse(encoded)
	if err != nil {
		return false, false, domain.Wrap(domain.KindInternal, "argon2id.Verify", err)
	}
	k, err := h.key("argon2id.Verify", password, d.salt, d.params, d.params.KeyLen)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(k, d.key) != 1 {
		return false, false, nil
	}
	return true, d.params != h.params, nil
}

// DummyVerify implements ports.PasswordHasher: one argon2id run with the
// current parameters and a constant-time compare against a random key, the
// same work as Verify of a wrong password against a current hash. When the
// hasher is saturated it returns at once, as Verify would with an error.
func (h *Hasher) DummyVerify(password string) {
	k, err := h.key("argon2id.DummyVerify", password, h.dummySalt, h.params, h.params.KeyLen)
	if err != nil {
		return
	}
	_ = subtle.ConstantTimeCompare(k, h.dummyKey)
}
