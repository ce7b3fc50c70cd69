package porttest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// wantSession fails the test unless sess is stored (with its user) exactly
// when exists is true.
func (f accountFixture) wantSession(sess domain.Session, u domain.User, exists bool) {
	f.t.Helper()
	got, gotUser, err := f.Sessions.SessionByTokenHash(f.ctx, sess.TokenHash)
	if !exists {
		wantAccountErr(f.t, "SessionByTokenHash", err, domain.KindUnauthenticated, domain.CodeSessionInvalid)
		return
	}
	if err != nil {
		f.t.Errorf("SessionByTokenHash: got error %v, want nil", err)
		return
	}
	if d := cmp.Diff(got, sess, accountOpts); d != "" {
		f.t.Errorf("stored session differs (-got +want):\n%s", d)
	}
	if d := cmp.Diff(gotUser, u, accountOpts); d != "" {
		f.t.Errorf("session's user differs (-got +want):\n%s", d)
	}
}

// wantSessionValue fails the test unless the session stored under sess's
// token hash equals sess.
func (f accountFixture) wantSessionValue(sess domain.Session) {
	f.t.Helper()
	got, _, err := f.Sessions.SessionByTokenHash(f.ctx, sess.TokenHash)
	if err != nil {
		f.t.Errorf("SessionByTokenHash: got error %v, want nil", err)
		return
	}
	if d := cmp.Diff(got, sess, accountOpts); d != "" {
		f.t.Errorf("stored session differs (-got +want):\n%s", d)
	}
}

func runSessionStore(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()

	t.Run("SessionByTokenHash returns session and user", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		sess := f.session(u.ID)
		f.session(u.ID) // a second session of the same user is not returned
		f.wantSession(sess, u, true)
	})

	t.Run("SessionByTokenHash returns an expired session too: the caller checks lifetimes", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		sess := f.newSessionValue(u.ID, accountsT0.Add(-90*24*time.Hour))
		if err := f.Sessions.CreateSession(f.ctx, sess); err != nil {
			t.Fatalf("CreateSession: got error %v, want nil", err)
		}
		f.wantSession(sess, u, true)
	})

	t.Run("SessionByTokenHash of an unknown hash is invalid_session (Unauthenticated)", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		f.session(u.ID)
		f.wantSession(f.newSessionValue(u.ID, accountsT0), u, false)
	})

	t.Run("TouchSession updates LastSeenAt", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		sess := f.session(u.ID)
		at := accountsT0.Add(7*time.Minute + 123456*time.Microsecond)
		if err := f.Sessions.TouchSession(f.ctx, sess.ID, at); err != nil {
			t.Fatalf("TouchSession: got error %v, want nil", err)
		}
		want := sess
		want.LastSeenAt = at
		f.wantSessionValue(want)
	})

	t.Run("DeleteSession removes the session", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		gone, kept := f.session(u.ID), f.session(u.ID)
		if err := f.Sessions.DeleteSession(f.ctx, gone.ID); err != nil {
			t.Fatalf("DeleteSession: got error %v, want nil", err)
		}
		f.wantSession(gone, u, false)
		f.wantSession(kept, u, true)
	})

	for _, tc := range []struct {
		name string
		id   func(f accountFixture) string
	}{
		{"DeleteSession of a missing id is not an error", func(f accountFixture) string { return newAccountID(f.t) }},
		{"DeleteSession of an already deleted session is not an error", func(f accountFixture) string {
			sess := f.session(f.user().ID)
			if err := f.Sessions.DeleteSession(f.ctx, sess.ID); err != nil {
				f.t.Fatalf("first DeleteSession: got error %v, want nil", err)
			}
			return sess.ID
		}},
		{"DeleteSession of an id that is not a UUID is not an error", func(accountFixture) string { return "not-a-uuid" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			if err := f.Sessions.DeleteSession(f.ctx, tc.id(f)); err != nil {
				t.Errorf("DeleteSession: got error %v, want nil", err)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		except int // index of the session to keep, or -1 for none
		want   int
	}{
		{"DeleteUserSessions keeps the excepted one and returns the count", 1, 2},
		{"DeleteUserSessions without an exception removes all and returns the count", -1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			u, other := f.user(), f.user()
			mine := []domain.Session{f.session(u.ID), f.session(u.ID), f.session(u.ID)}
			others := f.session(other.ID)
			except := ""
			if tc.except >= 0 {
				except = mine[tc.except].ID
			}
			n, err := f.Sessions.DeleteUserSessions(f.ctx, u.ID, except)
			if err != nil {
				t.Fatalf("DeleteUserSessions: got error %v, want nil", err)
			}
			if n != tc.want {
				t.Errorf("DeleteUserSessions: got %d removed, want %d", n, tc.want)
			}
			for i, s := range mine {
				f.wantSession(s, u, i == tc.except)
			}
			f.wantSession(others, other, true)
		})
	}

	t.Run("DeleteUserSessions of a user without sessions removes none", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u, other := f.user(), f.user()
		f.session(other.ID)
		n, err := f.Sessions.DeleteUserSessions(f.ctx, u.ID, "")
		if err != nil || n != 0 {
			t.Errorf("DeleteUserSessions: got %d, %v; want 0, nil", n, err)
		}
	})
}
