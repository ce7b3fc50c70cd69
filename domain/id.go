package domain

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"sync"
	"time"
)

// idClock keeps ids strictly increasing within the process (RFC 9562
// §6.2, method 1: a counter in the 12 rand_a bits, seeded at random each
// new millisecond). Rows written at one clock reading, as in a transaction
// or under a test clock, still sort in the order they were made.
var idClock struct {
	sync.Mutex
	ms  int64
	seq uint16
}

// NewID returns a new UUID version 7: 48 bits of Unix milliseconds from now,
// a 12-bit counter and 62 random bits from r. Ids made by one process sort
// in the order they were made, which keeps b-tree inserts local and makes
// "newest first" pagination cheap, while the random part keeps them
// unguessable enough for identifiers (they are never secrets: authorization
// always checks ownership).
func NewID(now time.Time, r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[6:]); err != nil {
		return "", Wrap(KindInternal, "domain.NewID", err)
	}
	ms, seq := nextIDTick(now.UnixMilli(), binary.BigEndian.Uint16(b[6:8])&0x01ff)
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(ms))
	copy(b[0:6], ts[2:8])
	b[6] = 0x70 | byte(seq>>8) // version 7 and the counter's high bits
	b[7] = byte(seq)
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

// nextIDTick returns the millisecond and counter of the next id: a new
// millisecond starts the counter at seed (9 random bits, leaving room to
// count up); a repeated or earlier one counts up, moving into the next
// millisecond when the 12 bits run out.
func nextIDTick(ms int64, seed uint16) (int64, uint16) {
	idClock.Lock()
	defer idClock.Unlock()
	if ms > idClock.ms {
		idClock.ms, idClock.seq = ms, seed
	} else if idClock.seq < 0x0fff {
		idClock.seq++
	} else {
		idClock.ms, idClock.seq = idClock.ms+1, seed
	}
	return idClock.ms, idClock.seq
}
