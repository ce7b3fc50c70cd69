package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/domain"
)

// ids returns the ids in table, sorted.
func ids(t *testing.T, db *bun.DB, table string) []string {
	t.Helper()
	rows, err := db.DB.QueryContext(context.Background(), `SELECT id FROM `+table+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// PurgeExpired deletes sessions from their absolute expiry on and tokens a
// day after they were used or expired, whichever came first, in batches,
// and keeps everything else.
func TestPurgeExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openAppDB(t)
	s := postgres.NewStore(db)
	postgres.SetExpiredPurgeBatch(s, 2) // several batches per table
	now := at.Add(30 * 24 * time.Hour)
	owner := createUser(t, s).ID
	ptr := func(d time.Duration) *time.Time { v := now.Add(d); return &v }

	var wantSessions []string
	sessionCases := []struct {
		name    string
		expires time.Duration // from now
		kept    bool
	}{
		{"expired a month ago", -30 * 24 * time.Hour, false},
		{"expired an hour ago", -time.Hour, false},
		{"expired a microsecond ago", -time.Microsecond, false},
		{"expiring now", 0, false},
		{"expired a minute ago", -time.Minute, false},
		{"expiring in a microsecond", time.Microsecond, true},
		{"expiring in a day", 24 * time.Hour, true},
	}
	names := map[string]string{}
	for _, c := range sessionCases {
		sess := createSession(t, s, owner)
		if _, err := db.DB.ExecContext(ctx, `UPDATE sessions SET expires_at = $2 WHERE id = $1`, sess.ID, now.Add(c.expires)); err != nil {
			t.Fatal(err)
		}
		names[sess.ID] = "session " + c.name
		if c.kept {
			wantSessions = append(wantSessions, sess.ID)
		}
	}

	var wantTokens []string
	tokenCases := []struct {
		name    string
		expires time.Duration
		used    *time.Time
		kept    bool
	}{
		{"used 25 hours ago, not expired", time.Hour, ptr(-25 * time.Hour), false},
		{"used 23 hours ago, not expired", time.Hour, ptr(-23 * time.Hour), true},
		{"used exactly a day ago", time.Hour, ptr(-24 * time.Hour), true},
		{"unused, expired 25 hours ago", -25 * time.Hour, nil, false},
		{"unused, expired 23 hours ago", -23 * time.Hour, nil, true},
		{"unused and valid", time.Hour, nil, true},
		{"revoked an hour ago, expired 30 hours ago", -30 * time.Hour, ptr(-time.Hour), false},
		{"used a week ago, expired 6 days ago", -6 * 24 * time.Hour, ptr(-7 * 24 * time.Hour), false},
	}
	for _, c := range tokenCases {
		tok := domain.OneTimeToken{ID: newID(t), UserID: owner, Purpose: domain.PurposePasswordReset, Hash: domain.HashToken(newID(t)),
			ExpiresAt: now.Add(c.expires), UsedAt: c.used, CreatedAt: now.Add(-40 * 24 * time.Hour)}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		names[tok.ID] = "token " + c.name
		if c.kept {
			wantTokens = append(wantTokens, tok.ID)
		}
	}

	got, err := s.PurgeExpired(ctx, now)
	if err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	want := postgres.Purged{Sessions: int64(len(sessionCases) - len(wantSessions)), Tokens: int64(len(tokenCases) - len(wantTokens))}
	if got != want {
		t.Errorf("PurgeExpired: got %+v, want %+v", got, want)
	}
	named := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = names[id]
		}
		slices.Sort(out)
		return out
	}
	if d := cmp.Diff(named(ids(t, db, "sessions")), named(wantSessions)); d != "" {
		t.Errorf("sessions left (-got +want):\n%s", d)
	}
	if d := cmp.Diff(named(ids(t, db, "one_time_tokens")), named(wantTokens)); d != "" {
		t.Errorf("tokens left (-got +want):\n%s", d)
	}

	got, err = s.PurgeExpired(ctx, now)
	if err != nil || got != (postgres.Purged{}) {
		t.Errorf("PurgeExpired again: got %+v, %v; want nothing deleted", got, err)
	}
}

// PurgeExpired passes over rows another transaction holds instead of
// waiting for it, and deletes them on a later run.
func TestPurgeExpiredSkipsLockedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openAppDB(t)
	s := postgres.NewStore(db)
	owner := createUser(t, s).ID
	now := at.Add(365 * 24 * time.Hour) // every session from createSession has expired
	held := createSession(t, s, owner)
	createSession(t, s, owner)

	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, held.ID); err != nil {
		t.Fatal(err)
	}
	// A deadline only so that a purge that waited for the lock fails the
	// test instead of hanging it.
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err := s.PurgeExpired(waitCtx, now)
	if err != nil || got.Sessions != 1 {
		t.Fatalf("PurgeExpired with a row locked: got %+v, %v; want the free session deleted", got, err)
	}
	if d := cmp.Diff(ids(t, db, "sessions"), []string{held.ID}); d != "" {
		t.Errorf("sessions left (-got +want):\n%s", d)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PurgeExpired(ctx, now); err != nil || got.Sessions != 1 {
		t.Errorf("PurgeExpired after the lock was released: got %+v, %v; want the held session deleted", got, err)
	}
}
