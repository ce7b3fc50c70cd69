package domain

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"time"
)

// NewID returns a new UUID version 7: 48 bits of Unix milliseconds from now
// followed by 74 random bits from r. Ids sort by creation time, which keeps
// b-tree inserts local and makes "newest first" pagination cheap, while the
// random part keeps them unguessable enough for identifiers (they are never
// secrets: authorization always checks ownership).
func NewID(now time.Time, r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[6:]); err != nil {
		return "", Wrap(KindInternal, "domain.NewID", err)
	}
	ms := uint64(now.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[0:6], ts[2:8])
	b[6] = (b[6] & 0x0f) | 0x70 // version 7
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:]), nil
}

// ValidID reports whether s is a UUID in canonical lower-case form, so
// malformed ids from clients are refused before they reach storage.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
