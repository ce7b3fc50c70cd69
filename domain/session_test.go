package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultSessionPolicy(t *testing.T) {
	t.Parallel()
	want := SessionPolicy{IdleTimeout: 24 * time.Hour, AbsoluteLifetime: 7 * 24 * time.Hour, TouchInterval: 5 * time.Minute}
	if diff := cmp.Diff(want, DefaultSessionPolicy()); diff != "" {
		t.Fatalf("policy (-want +got):\n%s", diff)
	}
	if err := want.Validate(); err != nil {
		t.Fatalf("Validate: got %v, want nil", err)
	}
}

func TestSessionPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    SessionPolicy
		ok   bool
	}{
		{"no touch throttling", SessionPolicy{time.Hour, 2 * time.Hour, 0}, true},
		{"idle longer than absolute", SessionPolicy{48 * time.Hour, 24 * time.Hour, time.Minute}, true},
		{"zero idle", SessionPolicy{0, time.Hour, 0}, false},
		{"zero absolute", SessionPolicy{time.Hour, 0, 0}, false},
		{"negative touch", SessionPolicy{time.Hour, time.Hour, -1}, false},
		{"touch equals idle", SessionPolicy{time.Hour, 2 * time.Hour, time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && KindOf(err) != KindInternal {
				t.Errorf("got kind %v, want internal", KindOf(err))
			}
		})
	}
}

func TestNewSession(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	p := DefaultSessionPolicy()
	raw, s, err := NewSession(nil, "s1", "u1", now, p)
	if err != nil {
		t.Fatal(err)
	}
	want := Session{ID: "s1", UserID: "u1", TokenHash: HashToken(raw), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour)}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
	if h, err := ParseSessionToken(raw); err != nil || h != s.TokenHash {
		t.Errorf("ParseSessionToken: got %v, %v; want the session's hash", h, err)
	}
	raw2, _, err := NewSession(nil, "s2", "u1", now, p)
	if err != nil || raw2 == raw {
		t.Errorf("second session: got token %q (%v), want a new token", raw2, err)
	}
	if _, _, err := NewSession(nil, "s3", "u1", now, SessionPolicy{}); KindOf(err) != KindInternal {
		t.Errorf("invalid policy: got %v, want KindInternal", err)
	}
}

func TestParseSessionTokenMalformed(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "known", "abc=", string(make([]byte, 43))} {
		_, err := ParseSessionToken(raw)
		if KindOf(err) != KindUnauthenticated || CodeOf(err) != CodeSessionInvalid {
			t.Errorf("ParseSessionToken(%q): got %v, want unauthenticated %s", raw, err, CodeSessionInvalid)
		}
	}
}

func TestSessionCheck(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	p := DefaultSessionPolicy()
	idle, abs := p.IdleTimeout, p.AbsoluteLifetime
	fresh := Session{CreatedAt: c, LastSeenAt: c, ExpiresAt: c.Add(abs)}
	active := fresh
	active.LastSeenAt = c.Add(abs - time.Hour) // kept alive until near the end
	tests := []struct {
		name string
		s    Session
		p    SessionPolicy
		now  time.Time
		ok   bool
	}{
		{"at creation", fresh, p, c, true},
		{"idle-1s", fresh, p, c.Add(idle - time.Second), true},
		{"exactly idle", fresh, p, c.Add(idle), false},
		{"idle+1s", fresh, p, c.Add(idle + time.Second), false},
		{"active, absolute-1s", active, p, c.Add(abs - time.Second), true},
		{"active, exactly absolute", active, p, c.Add(abs), false},
		{"active, absolute+1s", active, p, c.Add(abs + time.Second), false},
		{"policy shortened applies at once", active, SessionPolicy{idle, 24 * time.Hour, p.TouchInterval}, c.Add(24 * time.Hour), false},
		{"policy lengthened does not extend", active, SessionPolicy{idle, 30 * 24 * time.Hour, p.TouchInterval}, c.Add(abs), false},
		{"idle shortened applies at once", fresh, SessionPolicy{time.Hour, abs, time.Minute}, c.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Check(tt.now, tt.p)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if KindOf(err) != KindUnauthenticated || CodeOf(err) != CodeSessionExpired {
				t.Fatalf("got %v, want unauthenticated %s", err, CodeSessionExpired)
			}
		})
	}
}

func TestSessionNeedsTouch(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s := Session{CreatedAt: c, LastSeenAt: c, ExpiresAt: c.Add(time.Hour * 24 * 7)}
	p := DefaultSessionPolicy()
	tests := []struct {
		after time.Duration
		want  bool
	}{
		{0, false},
		{time.Second, false},
		{5*time.Minute - time.Second, false},
		{5 * time.Minute, true},
		{5*time.Minute + time.Second, true},
		{time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.after.String(), func(t *testing.T) {
			t.Parallel()
			if got := s.NeedsTouch(c.Add(tt.after), p); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSessionTouch(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s := Session{CreatedAt: c, LastSeenAt: c.Add(time.Hour), ExpiresAt: c.Add(time.Hour * 24 * 7)}
	s.Touch(c) // earlier: ignored
	if !s.LastSeenAt.Equal(c.Add(time.Hour)) {
		t.Fatalf("Touch moved LastSeenAt back to %v", s.LastSeenAt)
	}
	s.Touch(c.Add(2 * time.Hour))
	if !s.LastSeenAt.Equal(c.Add(2 * time.Hour)) {
		t.Fatalf("got LastSeenAt %v, want %v", s.LastSeenAt, c.Add(2*time.Hour))
	}
	p := DefaultSessionPolicy()
	if got, want := s.Deadline(p), c.Add(26*time.Hour); !got.Equal(want) {
		t.Errorf("Deadline: got %v, want %v", got, want)
	}
}

// A session used once a minute lives exactly its absolute lifetime, and
// writes LastSeenAt only once per TouchInterval.
func TestSessionActiveUseUntilAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	c := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	p := DefaultSessionPolicy()
	_, s, err := NewSession(nil, "s", "u", c, p)
	if err != nil {
		t.Fatal(err)
	}
	var requests, writes int
	var endedAt time.Time
	for now := c.Add(time.Minute); ; now = now.Add(time.Minute) {
		if err := s.Check(now, p); err != nil {
			endedAt = now
			break
		}
		requests++
		if s.NeedsTouch(now, p) {
			s.Touch(now)
			writes++
		}
	}
	if want := c.Add(p.AbsoluteLifetime); !endedAt.Equal(want) {
		t.Errorf("session ended at %v, want %v", endedAt, want)
	}
	if want := requests / 5; writes != want {
		t.Errorf("got %d writes for %d requests, want %d (one per 5 minutes)", writes, requests, want)
	}
}
