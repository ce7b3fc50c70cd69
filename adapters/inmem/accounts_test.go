package inmem_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

func TestAccountStoresContract(t *testing.T) {
	t.Parallel()
	porttest.RunAccountStores(t, func(t *testing.T) porttest.AccountStores {
		s := inmem.NewStore()
		return porttest.AccountStores{
			Tx: s, Users: s, Tokens: s, Sessions: s, Limiter: s, Outbox: s,
			ReadOutbox: func(context.Context) []domain.OutboxMessage { return s.OutboxMessages() },
		}
	})
}

func TestRateLimiterContract(t *testing.T) {
	t.Parallel()
	porttest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter { return inmem.NewStore() })
}

var at = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC-3", -3*60*60))

func newID(t *testing.T) string {
	t.Helper()
	id, err := domain.NewID(at, rand.Reader)
	if err != nil {
		t.Fatalf("NewID: %v", err)
	}
	return id
}

func newUser(t *testing.T, s *inmem.Store) domain.User {
	t.Helper()
	id := newID(t)
	email, err := domain.ParseEmail("u-" + id + "@example.com")
	if err != nil {
		t.Fatalf("ParseEmail: %v", err)
	}
	u := domain.NewUser(id, email, "hash", at)
	if s != nil {
		if err := s.CreateUser(context.Background(), u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	return u
}

func newToken(t *testing.T, s *inmem.Store, userID string) domain.OneTimeToken {
	t.Helper()
	_, tok, err := domain.IssueOneTimeToken(rand.Reader, newID(t), userID, domain.PurposeVerifyEmail, at)
	if err != nil {
		t.Fatalf("IssueOneTimeToken: %v", err)
	}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// A write outside a transaction to a table the transaction has read makes
// it run again, so the transaction never acts on what it read before.
func TestStoreRerunsATransactionAfterAConflictingWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := inmem.NewStore()
	tok := newToken(t, s, newUser(t, s).ID)
	runs, outsideWins := 0, 0
	err := s.WithinTx(ctx, func(txCtx context.Context) error {
		runs++
		if _, err := s.ConsumeToken(txCtx, tok.Hash, tok.Purpose, at); err != nil {
			return err
		}
		if runs == 1 {
			// ctx carries no transaction: this spends the token at once.
			if _, err := s.ConsumeToken(ctx, tok.Hash, tok.Purpose, at); err == nil {
				outsideWins++
			}
		}
		return nil
	})
	if got, want := domain.CodeOf(err), domain.CodeInvalidToken; got != want {
		t.Errorf("WithinTx: got error %v (code %q), want code %q", err, got, want)
	}
	if runs != 2 || outsideWins != 1 {
		t.Errorf("got %d runs and %d outside wins, want 2 and 1", runs, outsideWins)
	}
}

func TestStoreRefusesAContextWhoseTransactionEnded(t *testing.T) {
	t.Parallel()
	s := inmem.NewStore()
	var leaked context.Context
	if err := s.WithinTx(context.Background(), func(ctx context.Context) error {
		leaked = ctx
		return nil
	}); err != nil {
		t.Fatalf("WithinTx: %v", err)
	}
	err := s.CreateUser(leaked, newUser(t, nil))
	if got, want := domain.KindOf(err), domain.KindInternal; err == nil || got != want {
		t.Errorf("CreateUser after commit: got error %v (kind %v), want kind %v", err, got, want)
	}
}

func TestStoreKeepsCopiesInUTCMicroseconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := inmem.NewStore()
	u := newUser(t, nil)
	verifiedAt := at
	u.EmailVerifiedAt = &verifiedAt
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	verifiedAt = verifiedAt.Add(time.Hour) // the caller's pointer, after the call

	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	*got.EmailVerifiedAt = time.Time{} // the returned pointer must not reach the store
	got, err = s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	for name, tm := range map[string]time.Time{"EmailVerifiedAt": *got.EmailVerifiedAt, "CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm != want {
			t.Errorf("%s: got %v, want %v (same instant, UTC, microseconds)", name, tm, want)
		}
	}

	payload := []byte(`{"a":1}`)
	if err := s.Enqueue(ctx, domain.OutboxMessage{ID: newID(t), Kind: domain.OutboxEvent, Topic: "t", Payload: payload, CreatedAt: at}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	payload[5] = '2'
	s.OutboxMessages()[0].Payload[5] = '3'
	if got, want := string(s.OutboxMessages()[0].Payload), `{"a":1}`; got != want {
		t.Errorf("stored payload: got %s, want %s", got, want)
	}
}

func TestStoreRefusesWhatTheDatabaseWould(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		call func(t *testing.T, s *inmem.Store) error
		kind domain.Kind
		code string
	}{
		{"a user id that is not a UUID is a bug", func(t *testing.T, s *inmem.Store) error {
			u := newUser(t, nil)
			u.ID = "u1"
			return s.CreateUser(ctx, u)
		}, domain.KindInternal, ""},
		{"a taken user id is a conflict", func(t *testing.T, s *inmem.Store) error {
			u, v := newUser(t, s), newUser(t, nil)
			v.ID = u.ID
			return s.CreateUser(ctx, v)
		}, domain.KindConflict, ""},
		{"UpdateUser to a taken address is email_taken", func(t *testing.T, s *inmem.Store) error {
			u, v := newUser(t, s), newUser(t, s)
			return s.UpdateUser(ctx, v.ID, func(w *domain.User) error { w.Email = u.Email; return nil })
		}, domain.KindConflict, "email_taken"},
		{"UpdateUser changing the id is a bug", func(t *testing.T, s *inmem.Store) error {
			u := newUser(t, s)
			return s.UpdateUser(ctx, u.ID, func(w *domain.User) error { w.ID = newID(t); return nil })
		}, domain.KindInternal, ""},
		{"a token of a missing user is not found", func(t *testing.T, s *inmem.Store) error {
			_, tok, _ := domain.IssueOneTimeToken(rand.Reader, newID(t), newID(t), domain.PurposeVerifyEmail, at)
			return s.CreateToken(ctx, tok)
		}, domain.KindNotFound, ""},
		{"a session of a missing user is not found", func(t *testing.T, s *inmem.Store) error {
			_, sess, _ := domain.NewSession(rand.Reader, newID(t), newID(t), at, domain.DefaultSessionPolicy())
			return s.CreateSession(ctx, sess)
		}, domain.KindNotFound, ""},
		{"an outbox payload that is not JSON is a bug", func(t *testing.T, s *inmem.Store) error {
			return s.Enqueue(ctx, domain.OutboxMessage{ID: newID(t), Kind: domain.OutboxMail, Payload: []byte("{")})
		}, domain.KindInternal, ""},
		{"an outbox id enqueued twice is a conflict", func(t *testing.T, s *inmem.Store) error {
			m := domain.OutboxMessage{ID: newID(t), Kind: domain.OutboxMail, Payload: json.RawMessage(`{}`)}
			if err := s.Enqueue(ctx, m); err != nil {
				t.Fatalf("first Enqueue: %v", err)
			}
			return s.Enqueue(ctx, m)
		}, domain.KindConflict, ""},
		{"a rate limit below 1 is a bug", func(t *testing.T, s *inmem.Store) error {
			_, _, err := s.Allow(ctx, "k", 0, time.Minute, at)
			return err
		}, domain.KindInternal, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(t, inmem.NewStore())
			if got := domain.KindOf(err); err == nil || got != tc.kind {
				t.Errorf("got error %v (kind %v), want kind %v", err, got, tc.kind)
			}
			if got := domain.CodeOf(err); got != tc.code {
				t.Errorf("got code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestStoreOutboxMessagesAreInEnqueueOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := inmem.NewStore()
	// Ids made in one millisecond differ only in their random part, so
	// their order is not the enqueue order.
	var want []string
	for range 5 {
		want = append(want, newID(t))
	}
	for _, id := range want {
		if err := s.Enqueue(ctx, domain.OutboxMessage{ID: id, Kind: domain.OutboxEvent, Topic: "t", Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	var got []string
	for _, m := range s.OutboxMessages() {
		got = append(got, m.ID)
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("outbox order differs (-got +want):\n%s", d)
	}
}
