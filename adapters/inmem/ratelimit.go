package inmem

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// minPrune is the number of counters below which Allow never sweeps out
// ended windows.
const minPrune = 1024

// rateKey names one fixed window of one key. Windows are aligned to the Unix
// epoch (a 1-hour window runs from one full hour to the next), so every
// caller agrees on them without storing when a window began.
type rateKey struct {
	key   string
	start int64 // Unix nanoseconds
}

type rateCount struct {
	n   int
	end time.Time
}

// rateCounters are the attempts counted per window. Counters of ended
// windows are swept out once the map has doubled since the last sweep.
type rateCounters struct {
	windows map[rateKey]rateCount
	pruneAt int
}

// windowStart returns the start of the window of length w that holds now,
// counted in whole windows from the Unix epoch.
func windowStart(now time.Time, w time.Duration) time.Time {
	n, d := now.UnixNano(), int64(w)
	start := n - n%d
	if n%d < 0 {
		start -= d
	}
	return time.Unix(0, start).UTC()
}

// Allow records one attempt under key at now and reports whether it is
// within limit attempts in now's window; when it is not, retryAfter is the
// time left until that window ends. Refused attempts are counted too.
//
// Attempts count at once, also when ctx carries a transaction that later
// fails: the attempt was made either way. A limit below 1 or a window that
// is not positive is a domain.KindInternal error (a configuration bug).
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	const op = "inmem.Store.Allow"
	if err := ctx.Err(); err != nil {
		return false, 0, domain.Wrap(domain.KindUnavailable, op, err)
	}
	if limit < 1 || window <= 0 {
		return false, 0, internal(op, "rate limit and window must be positive")
	}
	start := windowStart(now, window)
	k := rateKey{key: key, start: start.UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.limits
	if len(c.windows) >= max(c.pruneAt, minPrune) {
		for k, v := range c.windows {
			if !now.Before(v.end) {
				delete(c.windows, k)
			}
		}
		c.pruneAt = 2 * len(c.windows)
	}
	count := c.windows[k]
	count.n++
	count.end = start.Add(window)
	c.windows[k] = count
	if count.n <= limit {
		return true, 0, nil
	}
	return false, count.end.Sub(now), nil
}
