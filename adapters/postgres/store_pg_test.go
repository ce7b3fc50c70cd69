package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
)

// These tests cover what the contract suite cannot see: how the Store uses
// PostgreSQL (statements, savepoints, retries, privileges, housekeeping).

var at = time.Date(2026, time.April, 1, 12, 0, 0, 0, time.UTC)

func newID(t testing.TB) string {
	t.Helper()
	id, err := domain.NewID(at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newUserValue(t testing.TB) domain.User {
	t.Helper()
	id := newID(t)
	email, err := domain.ParseEmail("u-" + id + "@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return domain.NewUser(id, email, "hash", at)
}

func createUser(t testing.TB, s *postgres.Store) domain.User {
	t.Helper()
	u := newUserValue(t)
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func createSession(t testing.TB, s *postgres.Store, userID string) domain.Session {
	t.Helper()
	_, sess, err := domain.NewSession(rand.Reader, newID(t), userID, at, domain.DefaultSessionPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess
}

// statementLog records every statement pgx sends on the connections it
// traces.
type statementLog struct {
	mu   sync.Mutex
	sqls []string
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sqls = append(l.sqls, data.SQL)
	return ctx
}

func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements logged since the last take.
func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.sqls
	l.sqls = nil
	return out
}

// openTraced opens a one-connection pool to dsn whose statements log records.
func openTraced(t *testing.T, dsn string, log *statementLog) *bun.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = log
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(1)
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { db.Close() })
	return db
}

// SessionByTokenHash, which runs on every authenticated request, is one
// statement whose text does not depend on the hash, and the server keeps it
// prepared: the second lookup on a connection reuses the first one's
// statement.
func TestSessionByTokenHashIsOnePreparedStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	setup := postgres.NewStore(openApp(t, cfg.DatabaseURL()))
	u := createUser(t, setup)
	sessions := []domain.Session{createSession(t, setup, u.ID), createSession(t, setup, u.ID)}

	log := &statementLog{}
	db := openTraced(t, cfg.DatabaseURL(), log)
	s := postgres.NewStore(db)
	log.take()
	for _, sess := range sessions {
		got, _, err := s.SessionByTokenHash(ctx, sess.TokenHash)
		if err != nil || got.ID != sess.ID {
			t.Fatalf("SessionByTokenHash: got %v, %v; want session %s", got.ID, err, sess.ID)
		}
	}
	sqls := log.take()
	if len(sqls) != 2 {
		t.Fatalf("got %d statements for two lookups, want 2:\n%s", len(sqls), strings.Join(sqls, "\n"))
	}
	if sqls[0] != sqls[1] {
		t.Errorf("the statement text depends on the hash:\n%s\n%s", sqls[0], sqls[1])
	}
	if !strings.Contains(sqls[0], "$1") || !strings.Contains(sqls[0], "JOIN users") {
		t.Errorf("got statement %q, want one joined SELECT with a $1 placeholder", sqls[0])
	}

	// The same single connection: what it has prepared at the protocol level.
	rows, err := db.DB.QueryContext(ctx, `SELECT statement FROM pg_prepared_statements WHERE NOT from_sql`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	prepared := 0
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			t.Fatal(err)
		}
		if stmt == sqls[0] {
			prepared++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if prepared != 1 {
		t.Errorf("the lookup is prepared %d times on the connection, want once", prepared)
	}

	// Why the Store does not go through bun's Query: bun writes the value
	// into the text, so every token would be a statement of its own.
	bunSQL := strings.Replace(sqls[0], "$1", "?", 1)
	for _, sess := range sessions {
		rows, err := db.QueryContext(ctx, bunSQL, sess.TokenHash[:])
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if viaBun := log.take(); len(viaBun) < 2 || viaBun[0] == viaBun[1] {
		t.Errorf("bun sent %q; the rationale in Store's doc comment assumes a different text per value", viaBun)
	}
}

// Every table the schema declares is the migrator's, and the app role may
// read and write its rows but not truncate it, reference it or put triggers
// on it: default privileges cover tables added later without another grant.
func TestAppRoleRowPrivilegesOnEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	app := openApp(t, cfg.DatabaseURL())
	declared, err := postgres.Declared()
	if err != nil {
		t.Fatal(err)
	}
	if len(declared.Tables) < 6 {
		t.Fatalf("got %d declared tables, want at least users, sessions, one_time_tokens, rate_limits, outbox and uploads", len(declared.Tables))
	}
	want := map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "TRUNCATE": false, "REFERENCES": false, "TRIGGER": false}
	for _, table := range declared.Tables {
		t.Run(table.Name, func(t *testing.T) {
			name := "gatehouse." + quoteIdent(table.Name)
			var owner string
			if err := app.DB.QueryRowContext(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = 'gatehouse' AND tablename = $1`, table.Name).Scan(&owner); err != nil {
				t.Fatalf("looking up the owner: %v", err)
			}
			if owner != cfg.MigratorUser {
				t.Errorf("got owner %q, want the migrator %q", owner, cfg.MigratorUser)
			}
			got := map[string]bool{}
			for priv := range want {
				var has bool
				if err := app.DB.QueryRowContext(ctx, `SELECT has_table_privilege(current_user, $1, $2)`, name, priv).Scan(&has); err != nil {
					t.Fatal(err)
				}
				got[priv] = has
			}
			if d := cmp.Diff(got, want); d != "" {
				t.Errorf("app role's privileges differ (-got +want):\n%s", d)
			}
		})
	}
}

// A failing WithinTx nested in another rolls back to its savepoint, even
// after a statement error (which aborts the whole transaction in
// PostgreSQL), and the outer transaction carries on and commits.
func TestWithinTxNestedFailureKeepsOuterUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := postgres.NewStore(openAppDB(t))
	before, inner, after := newUserValue(t), newUserValue(t), newUserValue(t)
	clash := newUserValue(t)
	clash.ID = inner.ID // primary key violation: a statement error, not ON CONFLICT's skip

	err := s.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, before); err != nil {
			return err
		}
		innerErr := s.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, inner); err != nil {
				return err
			}
			return s.CreateUser(ctx, clash)
		})
		if got := domain.KindOf(innerErr); got != domain.KindConflict {
			t.Errorf("inner WithinTx: got %v (kind %v), want a conflict", innerErr, got)
		}
		return s.CreateUser(ctx, after)
	})
	if err != nil {
		t.Fatalf("outer WithinTx: got %v, want nil", err)
	}
	for _, tc := range []struct {
		name string
		id   string
		kept bool
	}{{"before", before.ID, true}, {"inner", inner.ID, false}, {"after", after.ID, true}} {
		_, err := s.UserByID(ctx, tc.id)
		if got := err == nil; got != tc.kept {
			t.Errorf("user created %s the inner transaction: got kept=%v (err %v), want %v", tc.name, got, err, tc.kept)
		}
	}
}

// Two transactions that lock two users in opposite orders deadlock;
// PostgreSQL aborts one, WithinTx runs its fn again, and both end up
// applied. An error from fn itself is never retried.
func TestWithinTxRetriesAfterDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := postgres.NewStore(openAppDB(t))
	u1, u2 := createUser(t, s), createUser(t, s)

	var (
		runs       atomic.Int32
		firstLocks sync.WaitGroup
		once       [2]sync.Once
	)
	firstLocks.Add(2)
	appendMark := func(u *domain.User) error { u.PasswordHash += "+"; return nil }
	transfer := func(i int, first, second string) error {
		return s.WithinTx(ctx, func(ctx context.Context) error {
			runs.Add(1)
			if err := s.UpdateUser(ctx, first, appendMark); err != nil {
				return err
			}
			// On the first run only, wait until both hold their first lock,
			// so that the second locks cross.
			once[i].Do(func() { firstLocks.Done(); firstLocks.Wait() })
			return s.UpdateUser(ctx, second, appendMark)
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = transfer(0, u1.ID, u2.ID) })
	wg.Go(func() { errs[1] = transfer(1, u2.ID, u1.ID) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: got %v, want nil after a retry", i, err)
		}
	}
	// Usually 3; the retry can, rarely, meet the other transaction again
	// and need a second one.
	if got := runs.Load(); got < 3 {
		t.Errorf("fn ran %d times, want at least 3 (a transaction retried)", got)
	}
	for _, u := range []domain.User{u1, u2} {
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash != u.PasswordHash+"++" {
			t.Errorf("user %s: got hash %q, want both updates (%q)", u.ID, got.PasswordHash, u.PasswordHash+"++")
		}
	}

	t.Run("fn's own error is not retried", func(t *testing.T) {
		runs.Store(0)
		boom := errors.New("boom")
		if err := s.WithinTx(ctx, func(context.Context) error { runs.Add(1); return boom }); !errors.Is(err, boom) {
			t.Errorf("got %v, want fn's error", err)
		}
		if got := runs.Load(); got != 1 {
			t.Errorf("fn ran %d times, want 1", got)
		}
	})
}

// A panic in fn rolls the transaction back and gives the connection back to
// the pool clean: with a pool of one, the next call would otherwise hang.
func TestWithinTxPanicRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	db, err := postgres.Open(ctx, cfg.DatabaseURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := postgres.NewStore(db)
	u := newUserValue(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic from fn", r)
			}
		}()
		_ = s.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Errorf("CreateUser: %v", err)
			}
			panic("boom")
		})
	}()
	_, err = s.UserByID(ctx, u.ID)
	if got := domain.KindOf(err); got != domain.KindNotFound {
		t.Errorf("UserByID after the panic: got %v (kind %v), want NotFound", err, got)
	}
}

// PostgreSQL's refusals come back as the kinds the ports document.
func TestStoreTranslatesErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := postgres.NewStore(openAppDB(t))
	u, other := createUser(t, s), createUser(t, s)
	sess := createSession(t, s, u.ID)

	tests := []struct {
		name     string
		call     func() error
		wantKind domain.Kind
		wantCode string
	}{
		{"UpdateUser to a taken address", func() error {
			return s.UpdateUser(ctx, u.ID, func(got *domain.User) error { got.Email = other.Email; return nil })
		}, domain.KindConflict, "email_taken"},
		{"CreateUser with a taken id", func() error {
			dup := newUserValue(t)
			dup.ID = u.ID
			return s.CreateUser(ctx, dup)
		}, domain.KindConflict, ""},
		{"CreateToken for a missing user", func() error {
			_, tok, err := domain.IssueOneTimeToken(rand.Reader, newID(t), newID(t), domain.PurposeVerifyEmail, at)
			if err != nil {
				t.Fatal(err)
			}
			return s.CreateToken(ctx, tok)
		}, domain.KindConflict, ""},
		{"CreateSession with a token hash in use", func() error {
			dup := sess
			dup.ID = newID(t)
			return s.CreateSession(ctx, dup)
		}, domain.KindConflict, ""},
		{"CreateSession for a missing user", func() error {
			_, fresh, err := domain.NewSession(rand.Reader, newID(t), newID(t), at, domain.DefaultSessionPolicy())
			if err != nil {
				t.Fatal(err)
			}
			return s.CreateSession(ctx, fresh)
		}, domain.KindConflict, ""},
		{"Enqueue of a payload that is not JSON", func() error {
			return s.Enqueue(ctx, domain.OutboxMessage{ID: newID(t), Kind: domain.OutboxEvent, Topic: "x", Payload: []byte("{"), CreatedAt: at})
		}, domain.KindInvalid, ""},
		{"Enqueue of an unknown kind", func() error {
			return s.Enqueue(ctx, domain.OutboxMessage{ID: newID(t), Kind: "fax", Topic: "x", Payload: []byte("{}"), CreatedAt: at})
		}, domain.KindInvalid, ""},
		{"ConsumeToken for an unknown purpose", func() error {
			_, err := s.ConsumeToken(ctx, sess.TokenHash, "login", at)
			return err
		}, domain.KindInvalid, domain.CodeInvalidToken},
		{"UpdateUser of an id that is not a UUID", func() error {
			return s.UpdateUser(ctx, "nope", func(*domain.User) error { return nil })
		}, domain.KindNotFound, ""},
		{"Allow with a window of zero", func() error {
			_, _, err := s.Allow(ctx, "k", 1, 0, at)
			return err
		}, domain.KindInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := domain.KindOf(err); err == nil || got != tt.wantKind {
				t.Fatalf("got %v (kind %v), want kind %v", err, got, tt.wantKind)
			}
			if got := domain.CodeOf(err); got != tt.wantCode {
				t.Errorf("got code %q, want %q", got, tt.wantCode)
			}
		})
	}
}

// A database that cannot be reached is KindUnavailable from every port.
func TestStoreUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there any more
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://app:pw@127.0.0.1:%d/x?sslmode=require&connect_timeout=5", port))
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(stdlib.OpenDB(*cfg), pgdialect.New())
	defer db.Close()
	s := postgres.NewStore(db)
	ctx := context.Background()
	u := newUserValue(t)

	tests := []struct {
		name string
		call func() error
	}{
		{"WithinTx", func() error { return s.WithinTx(ctx, func(context.Context) error { return nil }) }},
		{"CreateUser", func() error { return s.CreateUser(ctx, u) }},
		{"UserByEmail", func() error { _, err := s.UserByEmail(ctx, u.Email); return err }},
		{"UpdateUser", func() error { return s.UpdateUser(ctx, u.ID, func(*domain.User) error { return nil }) }},
		{"SessionByTokenHash", func() error { _, _, err := s.SessionByTokenHash(ctx, domain.HashToken("x")); return err }},
		{"ConsumeToken", func() error {
			_, err := s.ConsumeToken(ctx, domain.HashToken("x"), domain.PurposeVerifyEmail, at)
			return err
		}},
		{"Allow", func() error { _, _, err := s.Allow(ctx, "k", 1, time.Minute, at); return err }},
		{"UploadByID", func() error { _, err := s.UploadByID(ctx, u.ID, u.ID); return err }},
		{"UpdateUpload", func() error { return s.UpdateUpload(ctx, u.ID, func(*domain.Upload) error { return nil }) }},
		{"PurgeExpired", func() error { _, err := s.PurgeExpired(ctx, at); return err }},
		{"Enqueue", func() error {
			return s.Enqueue(ctx, domain.OutboxMessage{ID: u.ID, Kind: domain.OutboxEvent, Topic: "x", Payload: []byte("{}"), CreatedAt: at})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := domain.KindOf(err); got != domain.KindUnavailable {
				t.Errorf("got %v (kind %v), want %v", err, got, domain.KindUnavailable)
			}
		})
	}
}

// Enqueued rows are pending, never attempted, and due when created, which
// is what the dispatcher claims.
func TestEnqueueWritesDuePendingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openAppDB(t)
	s := postgres.NewStore(db)
	created := at.Add(-time.Minute)
	msg := domain.OutboxMessage{ID: newID(t), Kind: domain.OutboxEvent, Topic: "user.registered", Payload: []byte(`{"id":1}`), CreatedAt: created}
	if err := s.Enqueue(ctx, msg); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Status             string
		Attempts           int
		NextAttempt, Until time.Time
		Locked, LastError  bool
	}
	var got row
	err := db.DB.QueryRowContext(ctx,
		`SELECT status, attempts, next_attempt_at, created_at, locked_until IS NOT NULL, last_error IS NOT NULL FROM outbox WHERE id = $1`, msg.ID).
		Scan(&got.Status, &got.Attempts, &got.NextAttempt, &got.Until, &got.Locked, &got.LastError)
	if err != nil {
		t.Fatal(err)
	}
	want := row{Status: "pending", Attempts: 0, NextAttempt: created, Until: created}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("outbox row differs (-got +want):\n%s", d)
	}
}

// rateLimitKeys returns the keys of the stored windows, sorted.
func rateLimitKeys(t *testing.T, db *bun.DB) []string {
	t.Helper()
	rows, err := db.DB.QueryContext(context.Background(), `SELECT key FROM rate_limits ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// The limiter deletes windows that have ended every so many calls, keeps the
// live ones, and never does so inside a caller's transaction.
func TestRateLimiterPurgesExpiredWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openAppDB(t)
	s := postgres.NewStore(db)
	postgres.SetRateLimitPurge(s, 3, 100)
	allow := func(ctx context.Context, key string, window time.Duration, now time.Time) {
		t.Helper()
		if _, _, err := s.Allow(ctx, key, 5, window, now); err != nil {
			t.Fatalf("Allow(%s): %v", key, err)
		}
	}

	allow(ctx, "a:minute", time.Minute, at) // call 1
	allow(ctx, "b:day", 24*time.Hour, at)   // call 2
	want := []string{"a:minute", "b:day"}
	if d := cmp.Diff(rateLimitKeys(t, db), want); d != "" {
		t.Fatalf("before the purge (-got +want):\n%s", d)
	}
	allow(ctx, "c:minute", time.Minute, at.Add(time.Hour)) // call 3 purges
	want = []string{"b:day", "c:minute"}
	if d := cmp.Diff(rateLimitKeys(t, db), want); d != "" {
		t.Errorf("after the purge: the ended minute must go, the day and the new minute stay (-got +want):\n%s", d)
	}

	later := at.Add(48 * time.Hour)
	allow(ctx, "d:minute", time.Minute, later) // call 4
	allow(ctx, "e:minute", time.Minute, later) // call 5
	err := s.WithinTx(ctx, func(ctx context.Context) error {
		allow(ctx, "f:minute", time.Minute, later) // call 6: in a transaction, no purge
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"b:day", "c:minute", "d:minute", "e:minute", "f:minute"}
	if d := cmp.Diff(rateLimitKeys(t, db), want); d != "" {
		t.Errorf("a purge ran inside a transaction (-got +want):\n%s", d)
	}

	n, err := s.PurgeRateLimits(ctx, later.Add(time.Minute))
	if err != nil {
		t.Fatalf("PurgeRateLimits: %v", err)
	}
	if n != 5 {
		t.Errorf("PurgeRateLimits: got %d rows deleted, want 5", n)
	}
	if got := rateLimitKeys(t, db); len(got) != 0 {
		t.Errorf("after PurgeRateLimits: got %q, want none", got)
	}
}

// Replicas share limits: two stores over two pools, like two instances of
// the service, admit exactly limit calls between them.
func TestRateLimiterHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	replicas := make([]*postgres.Store, 2)
	for i := range replicas {
		db, err := postgres.Open(ctx, cfg.DatabaseURL(), 8)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		replicas[i] = postgres.NewStore(db)
	}
	const n, limit = 50, 10
	oks := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			oks[i], _, errs[i] = replicas[i%2].Allow(ctx, "login:ip:192.0.2.1", limit, time.Hour, at)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := len(slices.DeleteFunc(oks, func(ok bool) bool { return !ok })); got != limit {
		t.Errorf("admitted %d calls, want %d", got, limit)
	}
}
