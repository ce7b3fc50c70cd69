package argon2id

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/adapters/argon2id/internal/argon2"
)

// b64 is the PHC string format's base64: standard alphabet, no padding,
// canonical trailing bits.
var b64 = base64.RawStdEncoding.Strict()

// maxEncodedLen is longer than any string within the bounds can be
// (about 210 bytes); longer input is refused before it is split.
const maxEncodedLen = 256

// decoded is a parsed PHC string.
type decoded struct {
	params Params
	salt   []byte
	key    []byte
}

// encode returns the PHC string of a hash.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errCorrupt = errors.New("argon2id: stored hash is not a valid argon2id PHC string")

func corrupt(detail string) error { return fmt.Errorf("%w: %s", errCorrupt, detail) }

// parse reads a PHC string strictly: exactly the form encode writes
// ($argon2id$v=19$m=…,t=…,p=…$salt$key, decimal numbers without leading
// zeros, canonical unpadded base64) and every value within the bounds. It
// rejects before decoding anything large, and never runs the KDF.
func parse(s string) (decoded, error) {
	var d decoded
	if len(s) > maxEncodedLen {
		return d, corrupt("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return d, corrupt("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return d, corrupt("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return d, corrupt("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return d, corrupt("parameters are not m,t,p")
	}
	m, err := number(kv[0], "m=")
	if err != nil {
		return d, err
	}
	t, err := number(kv[1], "t=")
	if err != nil {
		return d, err
	}
	p, err := number(kv[2], "p=")
	if err != nil {
		return d, err
	}
	if p > MaxThreads {
		return d, corrupt("parallelism out of bounds")
	}
	// Lengths are checked on the encoded text, before decoding.
	if n := len(parts[4]); n < b64.EncodedLen(MinSaltLen) || n > b64.EncodedLen(MaxSaltLen) {
		return d, corrupt("salt length out of bounds")
	}
	if n := len(parts[5]); n < b64.EncodedLen(MinKeyLen) || n > b64.EncodedLen(MaxKeyLen) {
		return d, corrupt("key length out of bounds")
	}
	if !b64Alphabet(parts[4]) || !b64Alphabet(parts[5]) {
		return d, corrupt("salt or key is not base64")
	}
	d.params = Params{Memory: m, Time: t, Threads: uint8(p)}
	if d.salt, err = b64.DecodeString(parts[4]); err != nil {
		return d, corrupt("salt is not base64")
	}
	if d.key, err = b64.DecodeString(parts[5]); err != nil {
		return d, corrupt("key is not base64")
	}
	d.params.SaltLen, d.params.KeyLen = uint32(len(d.salt)), uint32(len(d.key))
	if err := d.params.validate(); err != nil {
		return d, corrupt(err.Error())
	}
	return d, nil
}

// number parses "<prefix><decimal>" as a uint32 without sign, leading zeros
// or more than 10 digits.
func number(s, prefix string) (uint32, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, corrupt("expected " + prefix)
	}
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return 0, corrupt("malformed " + prefix)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, corrupt("malformed " + prefix)
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, corrupt("malformed " + prefix)
	}
	return uint32(n), nil
}

// b64Alphabet reports whether s uses only the standard base64 alphabet. The
// decoder alone would also accept (skip) CR and LF.
func b64Alphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '+' && c != '/' {
			return false
		}
	}
	return true
}
