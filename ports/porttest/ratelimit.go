package porttest

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ports"
)

// limiterWindowStart begins a window of any length that divides a day,
// counted from the Unix epoch, so the cases hold whether an implementation
// aligns windows to the epoch or starts one at the first attempt.
var limiterWindowStart = time.Date(2026, time.March, 14, 10, 0, 0, 0, time.UTC)

// allowAttempt is one Allow call and what it must answer.
type allowAttempt struct {
	at         time.Duration // after limiterWindowStart
	limit      int
	ok         bool
	retryAfter time.Duration
}

// RunRateLimiter runs the ports.RateLimiter contract against the
// implementation that newLimiter builds (RunAccountStores runs it too). Every
// subtest uses keys of its own.
func RunRateLimiter(t *testing.T, newLimiter func(t *testing.T) ports.RateLimiter) {
	t.Helper()

	const window = time.Minute
	for _, tc := range []struct {
		name     string
		attempts []allowAttempt
	}{
		{"Allow admits limit attempts per window then refuses with retryAfter until the window ends", []allowAttempt{
			{0, 3, true, 0},
			{10 * time.Second, 3, true, 0},
			{20 * time.Second, 3, true, 0},
			{30 * time.Second, 3, false, 30 * time.Second},
			{59*time.Second + 500*time.Millisecond, 3, false, 500 * time.Millisecond},
		}},
		{"Allow starts a new window fresh", []allowAttempt{
			{0, 2, true, 0},
			{time.Second, 2, true, 0},
			{2 * time.Second, 2, false, 58 * time.Second},
			{window, 2, true, 0},
			{window + time.Second, 2, true, 0},
			{window + 3*time.Second, 2, false, 57 * time.Second},
		}},
		{"Allow counts refused attempts too", []allowAttempt{
			{0, 2, true, 0},
			{time.Second, 2, true, 0},
			{2 * time.Second, 2, false, 58 * time.Second},
			{3 * time.Second, 2, false, 57 * time.Second},
			// Five attempts now, so a limit of 4 is already spent.
			{4 * time.Second, 4, false, 56 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t)
			key := "porttest:" + newAccountID(t)
			for i, a := range tc.attempts {
				ok, retryAfter, err := l.Allow(t.Context(), key, a.limit, window, limiterWindowStart.Add(a.at))
				if err != nil {
					t.Fatalf("allowAttempt %d at +%v: got error %v, want nil", i+1, a.at, err)
				}
				if ok != a.ok || retryAfter != a.retryAfter {
					t.Errorf("allowAttempt %d at +%v: got ok %v, retryAfter %v; want ok %v, retryAfter %v", i+1, a.at, ok, retryAfter, a.ok, a.retryAfter)
				}
			}
		})
	}

	t.Run("Allow keys are independent", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		spent, other := "porttest:"+newAccountID(t), "porttest:"+newAccountID(t)
		for i, a := range []struct {
			key string
			ok  bool
		}{{spent, true}, {spent, false}, {other, true}, {spent, false}} {
			ok, _, err := l.Allow(t.Context(), a.key, 1, window, limiterWindowStart)
			if err != nil || ok != a.ok {
				t.Errorf("allowAttempt %d: got ok %v, error %v; want ok %v, nil", i+1, ok, err, a.ok)
			}
		}
	})

	t.Run("Allow never admits more than limit among concurrent calls", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		key := "porttest:" + newAccountID(t)
		const n, limit = 50, 10
		now := limiterWindowStart.Add(5 * time.Second)
		type answer struct {
			ok         bool
			retryAfter time.Duration
			err        error
		}
		answers := make([]answer, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				ok, retryAfter, err := l.Allow(t.Context(), key, limit, window, now)
				answers[i] = answer{ok, retryAfter, err}
			})
		}
		close(start)
		wg.Wait()
		admitted := 0
		for i, a := range answers {
			switch {
			case a.err != nil:
				t.Errorf("call %d: got error %v, want nil", i, a.err)
			case a.ok:
				admitted++
			case a.retryAfter != window-5*time.Second:
				t.Errorf("call %d: got retryAfter %v, want %v", i, a.retryAfter, window-5*time.Second)
			}
		}
		if admitted != limit {
			t.Errorf("admitted calls: got %d, want %d", admitted, limit)
		}
	})
}
