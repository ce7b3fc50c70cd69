package inmem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

func TestUploadStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunUploadStore(t, func(t *testing.T) porttest.UploadStores {
		s := inmem.NewStore()
		u := inmem.NewUploadStore(s)
		return porttest.UploadStores{Tx: u, Uploads: u, Users: s, Sessions: s}
	})
}

// uploadsFixture is a Store, its UploadStore and one stored owner.
type uploadsFixture struct {
	store   *inmem.Store
	uploads *inmem.UploadStore
	owner   string
}

func newUploadsFixture(t *testing.T) uploadsFixture {
	t.Helper()
	s := inmem.NewStore()
	owner := newID(t)
	email, err := domain.ParseEmail("owner-" + owner + "@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(t.Context(), domain.NewUser(owner, email, "hash", at)); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return uploadsFixture{store: s, uploads: inmem.NewUploadStore(s), owner: owner}
}

func (f uploadsFixture) newUpload(t *testing.T, owner string) domain.Upload {
	t.Helper()
	id := newID(t)
	u, err := domain.NewUpload(domain.NewUploadParams{ID: id, OwnerID: owner, Bucket: "b", Key: "quarantine/" + id,
		Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3}, domain.DefaultUploadPolicy(), at)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	return u
}

func eventMessage(t *testing.T) domain.OutboxMessage {
	t.Helper()
	m, err := domain.NewEventOutbox(domain.Event{ID: newID(t), Type: "upload.accepted", Version: 1, OccurredAt: at, Detail: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUploadStoreSharesTheStoreTransaction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		fnErr    error
		wantKept bool
	}{
		{"a committed transaction keeps the upload and the outbox message", nil, true},
		{"a failed transaction keeps neither", errors.New("fail"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUploadsFixture(t)
			u := f.newUpload(t, f.owner)
			err := f.uploads.WithinTx(t.Context(), func(ctx context.Context) error {
				if err := f.uploads.CreateUpload(ctx, u); err != nil {
					return err
				}
				if err := f.store.Enqueue(ctx, eventMessage(t)); err != nil {
					return err
				}
				return tc.fnErr
			})
			if !errors.Is(err, tc.fnErr) {
				t.Fatalf("WithinTx: got error %v, want %v", err, tc.fnErr)
			}
			_, err = f.uploads.UploadByID(t.Context(), u.ID, f.owner)
			if gotKept := err == nil; gotKept != tc.wantKept {
				t.Errorf("upload kept: got %v (error %v), want %v", gotKept, err, tc.wantKept)
			}
			if gotKept := len(f.store.OutboxMessages()) == 1; gotKept != tc.wantKept {
				t.Errorf("outbox message kept: got %v, want %v", gotKept, tc.wantKept)
			}
		})
	}
}

func TestUploadStoreRefusesStoreTransactionsItCannotJoin(t *testing.T) {
	t.Parallel()
	f := newUploadsFixture(t)
	u := f.newUpload(t, f.owner)
	err := f.store.WithinTx(t.Context(), func(ctx context.Context) error {
		return f.uploads.CreateUpload(ctx, u)
	})
	if k := domain.KindOf(err); err == nil || k != domain.KindInternal {
		t.Fatalf("CreateUpload in a Store transaction: got error %v (kind %v), want kind %v", err, k, domain.KindInternal)
	}
	if _, err := f.uploads.UploadByID(t.Context(), u.ID, f.owner); !domain.IsKind(err, domain.KindNotFound) {
		t.Errorf("UploadByID: got error %v, want KindNotFound", err)
	}
}

func TestUploadStoreKeepsTheDatabaseRules(t *testing.T) {
	t.Parallel()
	f := newUploadsFixture(t)
	cases := []struct {
		name   string
		change func(*domain.Upload)
	}{
		{"an unknown owner", func(u *domain.Upload) { u.OwnerID = newID(t) }},
		{"an id that is not a UUID", func(u *domain.Upload) { u.ID = "x" }},
		{"an unknown status", func(u *domain.Upload) { u.Status = "lost" }},
		{"no key", func(u *domain.Upload) { u.Key = "" }},
		{"no creation time", func(u *domain.Upload) { u.CreatedAt = time.Time{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := f.newUpload(t, f.owner)
			tc.change(&u)
			err := f.uploads.CreateUpload(t.Context(), u)
			if k := domain.KindOf(err); err == nil || k != domain.KindInternal {
				t.Errorf("CreateUpload: got error %v (kind %v), want kind %v", err, k, domain.KindInternal)
			}
		})
	}
}

func TestUploadStoreRetriesATransactionWhoseReadsWentStale(t *testing.T) {
	t.Parallel()
	f := newUploadsFixture(t)
	u := f.newUpload(t, f.owner)
	if err := f.uploads.CreateUpload(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	outside := f.newUpload(t, f.owner)
	runs := 0
	err := f.uploads.WithinTx(t.Context(), func(ctx context.Context) error {
		runs++
		cur, err := f.uploads.UploadByID(ctx, u.ID, f.owner)
		if err != nil {
			return err
		}
		if runs == 1 { // a write outside the transaction, after it read
			if err := f.uploads.CreateUpload(context.Background(), outside); err != nil {
				t.Errorf("CreateUpload outside the transaction: %v", err)
			}
		}
		return f.uploads.UpdateUpload(ctx, u.ID, func(x *domain.Upload) error {
			x.Filename = cur.Filename + "+inside"
			return nil
		})
	})
	if err != nil {
		t.Fatalf("WithinTx: %v", err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2", runs)
	}
	got, err := f.uploads.UploadByID(t.Context(), u.ID, f.owner)
	if err != nil {
		t.Fatal(err)
	}
	if got.Filename != "a.txt+inside" {
		t.Errorf("filename: got %q, want %q", got.Filename, "a.txt+inside")
	}
	if _, err := f.uploads.UploadByID(t.Context(), outside.ID, f.owner); err != nil {
		t.Errorf("the upload created outside the transaction: got error %v, want nil", err)
	}
}

func TestUploadStoreKeepsNothingWhenTheStoreDoesNotCommit(t *testing.T) {
	t.Parallel()
	f := newUploadsFixture(t)
	u := f.newUpload(t, f.owner)
	ctx, cancel := context.WithCancel(t.Context())
	err := f.uploads.WithinTx(ctx, func(ctx context.Context) error {
		if err := f.uploads.CreateUpload(ctx, u); err != nil {
			return err
		}
		cancel() // fn succeeds, but the commit finds the context done
		return nil
	})
	if k := domain.KindOf(err); err == nil || k != domain.KindUnavailable {
		t.Fatalf("WithinTx: got error %v (kind %v), want kind %v", err, k, domain.KindUnavailable)
	}
	if _, err := f.uploads.UploadByID(t.Context(), u.ID, f.owner); !domain.IsKind(err, domain.KindNotFound) {
		t.Errorf("UploadByID: got error %v, want KindNotFound", err)
	}
}
