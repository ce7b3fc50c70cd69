// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// The known-answer vectors here are x/crypto v0.59.0's argon2_test.go; the
// tests around them are new and check the changes described in README.md.

package argon2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

var (
	genKatPassword = []byte{
		0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
		0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
		0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
		0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	}
	genKatSalt   = []byte{0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02}
	genKatSecret = []byte{0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03}
	genKatAAD    = []byte{0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}
)

// genKat are RFC 9106 section 5's test vectors (t=3, m=32 KiB, p=4, with
// secret and associated data), one per mode.
var genKat = []struct {
	name string
	mode int
	want []byte
}{
	{"argon2d", argon2d, []byte{
		0x51, 0x2b, 0x39, 0x1b, 0x6f, 0x11, 0x62, 0x97,
		0x53, 0x71, 0xd3, 0x09, 0x19, 0x73, 0x42, 0x94,
		0xf8, 0x68, 0xe3, 0xbe, 0x39, 0x84, 0xf3, 0xc1,
		0xa1, 0x3a, 0x4d, 0xb9, 0xfa, 0xbe, 0x4a, 0xcb,
	}},
	{"argon2i", argon2i, []byte{
		0xc8, 0x14, 0xd9, 0xd1, 0xdc, 0x7f, 0x37, 0xaa,
		0x13, 0xf0, 0xd7, 0x7f, 0x24, 0x94, 0xbd, 0xa1,
		0xc8, 0xde, 0x6b, 0x01, 0x6d, 0xd3, 0x88, 0xd2,
		0x99, 0x52, 0xa4, 0xc4, 0x67, 0x2b, 0x6c, 0xe8,
	}},
	{"argon2id", argon2id, []byte{
		0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c,
		0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
		0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e,
		0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59,
	}},
}

// Generated with the CLI of https://github.com/P-H-C/phc-winner-argon2/blob/master/argon2-specs.pdf
var testVectors = []struct {
	mode         int
	time, memory uint32
	threads      uint8
	hash         string
}{
	{
		mode: argon2i, time: 1, memory: 64, threads: 1,
		hash: "b9c401d1844a67d50eae3967dc28870b22e508092e861a37",
	},
	{
		mode: argon2d, time: 1, memory: 64, threads: 1,
		hash: "8727405fd07c32c78d64f547f24150d3f2e703a89f981a19",
	},
	{
		mode: argon2id, time: 1, memory: 64, threads: 1,
		hash: "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb",
	},
	{
		mode: argon2i, time: 2, memory: 64, threads: 1,
		hash: "8cf3d8f76a6617afe35fac48eb0b7433a9a670ca4a07ed64",
	},
	{
		mode: argon2d, time: 2, memory: 64, threads: 1,
		hash: "3be9ec79a69b75d3752acb59a1fbb8b295a46529c48fbb75",
	},
	{
		mode: argon2id, time: 2, memory: 64, threads: 1,
		hash: "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7",
	},
	{
		mode: argon2i, time: 2, memory: 64, threads: 2,
		hash: "2089f3e78a799720f80af806553128f29b132cafe40d059f",
	},
	{
		mode: argon2d, time: 2, memory: 64, threads: 2,
		hash: "68e2462c98b8bc6bb60ec68db418ae2c9ed24fc6748a40e9",
	},
	{
		mode: argon2id, time: 2, memory: 64, threads: 2,
		hash: "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362",
	},
	{
		mode: argon2i, time: 3, memory: 256, threads: 2,
		hash: "f5bbf5d4c3836af13193053155b73ec7476a6a2eb93fd5e6",
	},
	{
		mode: argon2d, time: 3, memory: 256, threads: 2,
		hash: "f4f0669218eaf3641f39cc97efb915721102f4b128211ef2",
	},
	{
		mode: argon2id, time: 3, memory: 256, threads: 2,
		hash: "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b",
	},
	{
		mode: argon2i, time: 4, memory: 4096, threads: 4,
		hash: "a11f7b7f3f93f02ad4bddb59ab62d121e278369288a0d0e7",
	},
	{
		mode: argon2d, time: 4, memory: 4096, threads: 4,
		hash: "935598181aa8dc2b720914aa6435ac8d3e3a4210c5b0fb2d",
	},
	{
		mode: argon2id, time: 4, memory: 4096, threads: 4,
		hash: "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a",
	},
	{
		mode: argon2i, time: 4, memory: 1024, threads: 8,
		hash: "0cdd3956aa35e6b475a7b0c63488822f774f15b43f6e6e17",
	},
	{
		mode: argon2d, time: 4, memory: 1024, threads: 8,
		hash: "83604fc2ad0589b9d055578f4d3cc55bc616df3578a896e9",
	},
	{
		mode: argon2id, time: 4, memory: 1024, threads: 8,
		hash: "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f",
	},
	{
		mode: argon2i, time: 2, memory: 64, threads: 3,
		hash: "5cab452fe6b8479c8661def8cd703b611a3905a6d5477fe6",
	},
	{
		mode: argon2d, time: 2, memory: 64, threads: 3,
		hash: "22474a423bda2ccd36ec9afd5119e5c8949798cadf659f51",
	},
	{
		mode: argon2id, time: 2, memory: 64, threads: 3,
		hash: "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079",
	},
	{
		mode: argon2i, time: 3, memory: 1024, threads: 6,
		hash: "d236b29c2b2a09babee842b0dec6aa1e83ccbdea8023dced",
	},
	{
		mode: argon2d, time: 3, memory: 1024, threads: 6,
		hash: "a3351b0319a53229152023d9206902f4ef59661cdca89481",
	},
	{
		mode: argon2id, time: 3, memory: 1024, threads: 6,
		hash: "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016",
	},
}

// forEachImpl runs f once per block-mixing implementation this machine has,
// as x/crypto's TestArgon2 does.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	defer func(sse4, lsx bool) { useSSE4, useLSX = sse4, lsx }(useSSE4, useLSX)
	if useSSE4 {
		t.Run("sse4", f)
		useSSE4 = false
	}
	if useLSX {
		t.Run("lsx", f)
		useLSX = false
	}
	t.Run("generic", f)
}

// garbage returns n blocks of random bytes.
func garbage(rng *rand.Rand, n uint32) []Block {
	mem := make([]Block, n)
	for i := range mem {
		for j := range mem[i] {
			mem[i][j] = rng.Uint64()
		}
	}
	return mem
}

// memoryKinds derive a key in different memory: freshly allocated (zero, as
// upstream), pre-filled with random bytes, and one buffer reused across
// calls. Each checks that nothing past the blocks argon2 needs was touched.
type memoryKind struct {
	name   string
	derive func(t *testing.T, mode int, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

func memoryKinds(rng *rand.Rand, reusedBlocks uint32) []memoryKind {
	const tail = 3 // blocks past the needed ones, which must stay untouched
	reused := garbage(rng, reusedBlocks+tail)
	inPrefix := func(t *testing.T, mem []Block, n uint32, f func(mem []Block) []byte) []byte {
		t.Helper()
		if uint32(len(mem)) < n+tail {
			t.Fatalf("test buffer has %d blocks, need %d", len(mem), n+tail)
		}
		canary := append([]Block(nil), mem[n:]...)
		k := f(mem)
		for i := range canary {
			if mem[n+uint32(i)] != canary[i] {
				t.Fatalf("block %d past the %d needed was written", i, n)
			}
		}
		return k
	}
	return []memoryKind{
		{"fresh", func(t *testing.T, mode int, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
			return deriveKey(mode, nil, password, salt, secret, data, time, memory, threads, keyLen)
		}},
		{"garbage", func(t *testing.T, mode int, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
			n := Blocks(memory, threads)
			return inPrefix(t, garbage(rng, n+tail), n, func(mem []Block) []byte {
				return deriveKey(mode, mem, password, salt, secret, data, time, memory, threads, keyLen)
			})
		}},
		{"reused", func(t *testing.T, mode int, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
			n := Blocks(memory, threads)
			return inPrefix(t, reused[:n+tail], n, func(mem []Block) []byte {
				return deriveKey(mode, mem, password, salt, secret, data, time, memory, threads, keyLen)
			})
		}},
	}
}

func TestArgon2(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, mk := range memoryKinds(rand.New(rand.NewPCG(1, 1)), 32) {
			// Twice, so the reused buffer starts from a previous state.
			for round := range 2 {
				for _, kat := range genKat {
					got := mk.derive(t, kat.mode, genKatPassword, genKatSalt, genKatSecret, genKatAAD, 3, 32, 4, 32)
					if !bytes.Equal(got, kat.want) {
						t.Errorf("%s, %s memory, round %d: got %x, want %x", kat.name, mk.name, round, got, kat.want)
					}
				}
			}
		}
	})
}

func TestVectors(t *testing.T) {
	password, salt := []byte("password"), []byte("somesalt")
	forEachImpl(t, func(t *testing.T) {
		for _, mk := range memoryKinds(rand.New(rand.NewPCG(2, 2)), 4096) {
			for i, v := range testVectors {
				want, err := hex.DecodeString(v.hash)
				if err != nil {
					t.Fatalf("Test %d: failed to decode hash: %v", i, err)
				}
				hash := mk.derive(t, v.mode, password, salt, nil, nil, v.time, v.memory, v.threads, uint32(len(want)))
				if !bytes.Equal(hash, want) {
					t.Errorf("Test %d, %s memory - got: %s want: %s", i, mk.name, hex.EncodeToString(hash), hex.EncodeToString(want))
				}
			}
		}
	})
}

// idParams are one argon2id call's arguments.
type idParams struct {
	time, memory   uint32
	threads        uint8
	keyLen         uint32
	password, salt []byte
}

func (p idParams) String() string {
	return fmt.Sprintf("t=%d,m=%d,p=%d,key=%d,pw=%d,salt=%d", p.time, p.memory, p.threads, p.keyLen, len(p.password), len(p.salt))
}

// differentialCases are argon2id parameter sets: for each lane count the
// smallest memory, sizes that are and are not multiples of 4*threads, up to
// a few thousand KiB, plus random ones.
func differentialCases(rng *rand.Rand) []idParams {
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var cases []idParams
	for threads := uint8(1); threads <= 4; threads++ {
		lowest, step := 8*uint32(threads), 4*uint32(threads)
		for i, memory := range []uint32{lowest, lowest + 1, lowest + step - 1, lowest + step, 100, 257, 1000 + uint32(threads), 2048, 3001} {
			cases = append(cases, idParams{
				time:     uint32(i%3) + 1,
				memory:   memory,
				threads:  threads,
				keyLen:   []uint32{16, 32, 33, 64}[(i+int(threads))%4],
				password: bytesOf([]int{0, 1, 8, 32, 100}[i%5]),
				salt:     bytesOf([]int{8, 16, 17, 64}[i%4]),
			})
		}
	}
	cases = append(cases, idParams{2, 19456 / 8, 1, 32, []byte("correct horse battery staple"), []byte("somesaltsomesalt")})
	for range 24 {
		threads := uint8(1 + rng.IntN(4))
		cases = append(cases, idParams{
			time:     uint32(1 + rng.IntN(3)),
			memory:   8*uint32(threads) + uint32(rng.IntN(4000)),
			threads:  threads,
			keyLen:   uint32(16 + rng.IntN(49)),
			password: bytesOf(rng.IntN(80)),
			salt:     bytesOf(8 + rng.IntN(57)),
		})
	}
	return cases
}

// TestIDKeyIntoMatchesXCrypto compares IDKeyInto, on buffers full of random
// bytes and on one buffer reused from call to call, with the unmodified
// golang.org/x/crypto/argon2.IDKey.
func TestIDKeyIntoMatchesXCrypto(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	cases := differentialCases(rng)
	var most uint32
	for _, c := range cases {
		most = max(most, Blocks(c.memory, c.threads))
	}
	reused := garbage(rng, most)
	for _, c := range cases {
		want := xargon2.IDKey(c.password, c.salt, c.time, c.memory, c.threads, c.keyLen)
		if got := IDKeyInto(garbage(rng, Blocks(c.memory, c.threads)), c.password, c.salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
			t.Errorf("%v, random memory: got %x, want %x", c, got, want)
		}
		if got := IDKeyInto(reused, c.password, c.salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
			t.Errorf("%v, reused memory: got %x, want %x", c, got, want)
		}
		if got := IDKey(c.password, c.salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
			t.Errorf("%v, IDKey: got %x, want %x", c, got, want)
		}
	}
}

// In every implementation processBlock writes what processBlockXOR XORs in,
// so overwriting a block full of garbage equals XORing into a zero one.
func TestProcessBlockOverwritesWhatXORAdds(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	forEachImpl(t, func(t *testing.T) {
		for i := range 20 {
			in := garbage(rng, 3)
			in1, in2, dirty := &in[0], &in[1], in[2]
			var zero, out Block
			processBlockXOR(&zero, in1, in2)
			out = dirty
			processBlock(&out, in1, in2)
			if out != zero {
				t.Fatalf("case %d: processBlock over garbage differs from processBlockXOR into zero", i)
			}
			var generic Block
			processBlockGeneric(&generic, in1, in2, false)
			if out != generic {
				t.Fatalf("case %d: processBlock differs from processBlockGeneric", i)
			}
			xor, genericXOR := dirty, dirty
			processBlockXOR(&xor, in1, in2)
			processBlockGeneric(&genericXOR, in1, in2, true)
			if xor != genericXOR {
				t.Fatalf("case %d: processBlockXOR differs from processBlockGeneric", i)
			}
			var want Block
			for j := range want {
				want[j] = dirty[j] ^ out[j]
			}
			if xor != want {
				t.Fatalf("case %d: processBlockXOR(out) is not out ^ processBlock", i)
			}
		}
	})
}

func TestBlocks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		memory  uint32
		threads uint8
		want    uint32
	}{
		{0, 1, 8},
		{8, 1, 8},
		{11, 1, 8},
		{12, 1, 12},
		{19456, 1, 19456},
		{19457, 1, 19456},
		{15, 2, 16},
		{16, 2, 16},
		{23, 2, 16},
		{24, 2, 24},
		{100, 3, 96},
		{1024, 8, 1024},
		{1025, 8, 1024},
	}
	for _, tt := range tests {
		if got := Blocks(tt.memory, tt.threads); got != tt.want {
			t.Errorf("Blocks(%d, %d) = %d, want %d", tt.memory, tt.threads, got, tt.want)
		}
	}
}

func TestIDKeyIntoPanicsOnShortBuffer(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("IDKeyInto with 63 blocks for m=64 did not panic")
		}
	}()
	IDKeyInto(make([]Block, 63), []byte("password"), []byte("somesalt"), 1, 64, 1, 32)
}

func BenchmarkIDKeyInto(b *testing.B) {
	mem := make([]Block, Blocks(19456, 1))
	password, salt := []byte("password"), []byte("choosing random salts is hard")
	b.ReportAllocs()
	for b.Loop() {
		IDKeyInto(mem, password, salt, 2, 19456, 1, 32)
	}
}

func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("password"), []byte("choosing random salts is hard")
	b.ReportAllocs()
	for b.Loop() {
		IDKey(password, salt, 2, 19456, 1, 32)
	}
}
