package porttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// UploadStores is one implementation of ports.UploadStore as the contract
// suite sees it. Tx must be the unit of work of Uploads; Users stores the
// owners that uploads belong to, and Sessions the sessions that
// UploadForSession reads.
type UploadStores struct {
	Tx       ports.Tx
	Uploads  ports.UploadStore
	Users    ports.UserStore
	Sessions ports.SessionStore
}

// RunUploadStore runs the ports.UploadStore contract against the
// implementation that newStores builds. newStores is called once per
// subtest and subtests run in parallel; they may share one database, since
// every subtest makes its own owners and objects, and only one subtest uses
// times before 2000 (StaleUploads sees every owner's uploads).
//
// Times go in with microsecond precision in a zone other than UTC and are
// compared as instants to the microsecond, which is what timestamptz keeps.
func RunUploadStore(t *testing.T, newStores func(t *testing.T) UploadStores) {
	t.Helper()
	runUploadReads(t, newStores)
	runUploadForSession(t, newStores)
	runUploadList(t, newStores)
	runUploadUpdate(t, newStores)
	runStaleUploads(t, newStores)
}

// uploadsT0 is the suite's "now": microsecond precision, not in UTC.
var uploadsT0 = time.Date(2026, time.April, 1, 9, 30, 15, 123456000, time.FixedZone("UTC-5", -5*60*60))

// uploadsBucket is the bucket of the suite's uploads.
const uploadsBucket = "porttest-uploads"

// errUploadFn is what the suite's fns return to make a call fail.
var errUploadFn = errors.New("porttest: fn failed on purpose")

// uploadOpts compares uploads as a database gives them back: times as
// instants to the microsecond, empty and nil slices alike.
var uploadOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
	}),
	cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ []string) bool { return true })),
}

// uploadFixture is one subtest's stores with helpers that make rows and
// fail the test when a step that is not under test fails.
type uploadFixture struct {
	UploadStores
	t   *testing.T
	ctx context.Context
}

func newUploadFixture(t *testing.T, newStores func(t *testing.T) UploadStores) uploadFixture {
	t.Helper()
	return uploadFixture{UploadStores: newStores(t), t: t, ctx: t.Context()}
}

func (f uploadFixture) id() string {
	f.t.Helper()
	id, err := domain.NewID(uploadsT0, rand.Reader)
	if err != nil {
		f.t.Fatalf("NewID: %v", err)
	}
	return id
}

// owner stores a fresh user and returns its id.
func (f uploadFixture) owner() string {
	f.t.Helper()
	id := f.id()
	email, err := domain.ParseEmail("owner-" + id + "@example.com")
	if err != nil {
		f.t.Fatalf("ParseEmail: %v", err)
	}
	u := domain.NewUser(id, email, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", uploadsT0)
	if err := f.Users.CreateUser(f.ctx, u); err != nil {
		f.t.Fatalf("CreateUser: %v", err)
	}
	return id
}

// newUpload returns a pending upload of owner created at created, not
// stored.
func (f uploadFixture) newUpload(owner string, created time.Time) domain.Upload {
	f.t.Helper()
	id := f.id()
	u, err := domain.NewUpload(domain.NewUploadParams{
		ID: id, OwnerID: owner, Bucket: uploadsBucket, Key: "quarantine/" + id,
		Filename: "report.pdf", ContentType: "application/pdf", SizeBytes: 1234,
	}, domain.DefaultUploadPolicy(), created)
	if err != nil {
		f.t.Fatalf("NewUpload: %v", err)
	}
	u.CreatedAt, u.UpdatedAt = created, created // keep the zone: the store must normalise
	return u
}

// upload stores and returns a pending upload of owner created at created.
func (f uploadFixture) upload(owner string, created time.Time) domain.Upload {
	f.t.Helper()
	u := f.newUpload(owner, created)
	if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
		f.t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

// settledUpload returns an upload with every field filled: completed,
// scanned, rejected with threats and reasons. Not stored.
func (f uploadFixture) settledUpload(owner string) domain.Upload {
	f.t.Helper()
	u := f.newUpload(owner, uploadsT0)
	u.SHA256 = strings.Repeat("ab", 32)
	obj := domain.ObjectInfo{Bucket: u.Bucket, Key: u.Key, VersionID: "v-1", ETag: `"etag-1"`, ContentType: u.ContentType, SizeBytes: u.SizeBytes}
	if _, err := u.Complete(obj, uploadsT0.Add(time.Minute)); err != nil {
		f.t.Fatalf("Complete: %v", err)
	}
	d := u.DecideVerdict(domain.ScanVerdict{Bucket: u.Bucket, Key: u.Key, VersionID: "v-1", ETag: "etag-1",
		ScanStatus: "COMPLETED", Result: domain.ScanThreatsFound, Threats: []string{"EICAR-Test-File (not a virus)", "Other"},
		Reasons: []string{"SOME_REASON"}}, uploadsT0.Add(2*time.Minute))
	if d.Action != domain.ActionReject {
		f.t.Fatalf("DecideVerdict: got action %v, want reject", d.Action)
	}
	return u
}

// want fails the test unless the owner's stored upload with u's id equals
// u.
func (f uploadFixture) want(u domain.Upload) {
	f.t.Helper()
	got, err := f.Uploads.UploadByObject(f.ctx, u.Bucket, u.Key)
	if err != nil {
		f.t.Errorf("UploadByObject: got error %v, want nil", err)
		return
	}
	if d := cmp.Diff(got, u, uploadOpts); d != "" {
		f.t.Errorf("stored upload differs (-got +want):\n%s", d)
	}
}

// cloneUpload returns a deep copy of u.
func cloneUpload(u domain.Upload) domain.Upload {
	if u.Verdict != nil {
		v := *u.Verdict
		v.Threats = append([]string(nil), v.Threats...)
		v.Reasons = append([]string(nil), v.Reasons...)
		u.Verdict = &v
	}
	if u.Scan != nil {
		r := *u.Scan
		r.Threats = append([]string(nil), r.Threats...)
		u.Scan = &r
	}
	if u.CompletedAt != nil {
		c := *u.CompletedAt
		u.CompletedAt = &c
	}
	return u
}

// wantUploadErr fails the test unless err has the kind.
func wantUploadErr(t *testing.T, call string, err error, kind domain.Kind) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %v", call, kind)
	case domain.KindOf(err) != kind:
		t.Errorf("%s: got error %v (kind %v), want kind %v", call, err, domain.KindOf(err), kind)
	}
}

func runUploadReads(t *testing.T, newStores func(t *testing.T) UploadStores) {
	t.Run("CreateUpload stores an upload that UploadByID and UploadByObject return intact", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		for _, u := range []domain.Upload{f.newUpload(owner, uploadsT0), f.settledUpload(owner)} {
			if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
				t.Fatalf("CreateUpload: got error %v, want nil", err)
			}
			got, err := f.Uploads.UploadByID(f.ctx, u.ID, owner)
			if err != nil {
				t.Fatalf("UploadByID: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, u, uploadOpts); d != "" {
				t.Errorf("UploadByID (-got +want):\n%s", d)
			}
			if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
				t.Errorf("times: got zones %v and %v, want UTC", got.CreatedAt.Location(), got.UpdatedAt.Location())
			}
			f.want(u)
		}
	})

	t.Run("returned uploads share nothing with the store", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.settledUpload(owner)
		if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		want := cloneUpload(u)
		u.Verdict.Threats[0], u.Scan.Threats[0] = "changed", "changed"
		got, err := f.Uploads.UploadByID(f.ctx, u.ID, owner)
		if err != nil {
			t.Fatalf("UploadByID: %v", err)
		}
		got.Verdict.Threats[0], got.Scan.Threats[0], *got.CompletedAt = "changed", "changed", time.Time{}
		f.want(want)
	})

	t.Run("UploadByID is not found for another owner, an unknown or malformed id, or a deleted upload", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner, other := f.owner(), f.owner()
		u := f.upload(owner, uploadsT0)
		deleted := f.newUpload(owner, uploadsT0)
		deleted.MarkDeleted(uploadsT0.Add(time.Minute))
		if err := f.Uploads.CreateUpload(f.ctx, deleted); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		cases := []struct{ name, id, owner string }{
			{"another owner", u.ID, other},
			{"an unknown id", f.id(), owner},
			{"a malformed id", "not-a-uuid", owner},
			{"a deleted upload", deleted.ID, owner},
		}
		for _, tc := range cases {
			_, err := f.Uploads.UploadByID(f.ctx, tc.id, tc.owner)
			wantUploadErr(t, "UploadByID of "+tc.name, err, domain.KindNotFound)
		}
	})

	t.Run("CreateUpload refuses an id or object that is taken with KindConflict", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.upload(owner, uploadsT0)
		sameID := f.newUpload(owner, uploadsT0)
		sameID.ID = u.ID
		sameObject := f.newUpload(owner, uploadsT0)
		sameObject.Key = u.Key
		for name, dup := range map[string]domain.Upload{"id": sameID, "object": sameObject} {
			wantUploadErr(t, "CreateUpload with a taken "+name, f.Uploads.CreateUpload(f.ctx, dup), domain.KindConflict)
		}
		f.want(u)
		_, err := f.Uploads.UploadByObject(f.ctx, sameID.Bucket, sameID.Key)
		wantUploadErr(t, "UploadByObject of the refused upload", err, domain.KindNotFound)
	})

	t.Run("UploadByObject finds an upload of any owner and status, and nothing for another bucket or key", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		u := f.newUpload(f.owner(), uploadsT0)
		u.MarkDeleted(uploadsT0.Add(time.Minute))
		if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		f.want(u)
		for _, obj := range [][2]string{{"other-bucket", u.Key}, {u.Bucket, u.Key + "x"}, {u.Bucket, strings.ToUpper(u.Key)}} {
			_, err := f.Uploads.UploadByObject(f.ctx, obj[0], obj[1])
			wantUploadErr(t, fmt.Sprintf("UploadByObject(%q, %q)", obj[0], obj[1]), err, domain.KindNotFound)
		}
	})

	t.Run("CreateUpload in a transaction is seen inside it and kept only if it commits", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.newUpload(owner, uploadsT0)
		err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
			if err := f.Uploads.CreateUpload(ctx, u); err != nil {
				return err
			}
			if _, err := f.Uploads.UploadByID(ctx, u.ID, owner); err != nil {
				t.Errorf("UploadByID inside the transaction: got error %v, want nil", err)
			}
			return errUploadFn
		})
		if !errors.Is(err, errUploadFn) {
			t.Fatalf("WithinTx: got error %v, want fn's error", err)
		}
		_, err = f.Uploads.UploadByID(f.ctx, u.ID, owner)
		wantUploadErr(t, "UploadByID after the rollback", err, domain.KindNotFound)
		if err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error { return f.Uploads.CreateUpload(ctx, u) }); err != nil {
			t.Fatalf("WithinTx: got error %v, want nil", err)
		}
		f.want(u)
	})
}

// session stores and returns a session of user started at uploadsT0.
func (f uploadFixture) session(user string) domain.Session {
	f.t.Helper()
	_, sess, err := domain.NewSession(rand.Reader, f.id(), user, uploadsT0, domain.DefaultSessionPolicy())
	if err != nil {
		f.t.Fatalf("NewSession: %v", err)
	}
	if err := f.Sessions.CreateSession(f.ctx, sess); err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	return sess
}

func runUploadForSession(t *testing.T, newStores func(t *testing.T) UploadStores) {
	t.Run("UploadForSession returns what SessionByTokenHash and UploadByID return", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		sess := f.session(owner)
		wantSess, wantUser, err := f.Sessions.SessionByTokenHash(f.ctx, sess.TokenHash)
		if err != nil {
			t.Fatalf("SessionByTokenHash: %v", err)
		}
		// One upload with every optional field empty, one with all set.
		pending, settled := f.upload(owner, uploadsT0), f.settledUpload(owner)
		if err := f.Uploads.CreateUpload(f.ctx, settled); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		for _, u := range []domain.Upload{pending, settled} {
			gotSess, gotUser, got, err := f.Uploads.UploadForSession(f.ctx, sess.TokenHash, u.ID)
			if err != nil {
				t.Fatalf("UploadForSession: got error %v, want nil", err)
			}
			if d := cmp.Diff(gotSess, wantSess, accountOpts); d != "" {
				t.Errorf("UploadForSession's session (-got +want):\n%s", d)
			}
			if d := cmp.Diff(gotUser, wantUser, accountOpts); d != "" {
				t.Errorf("UploadForSession's user (-got +want):\n%s", d)
			}
			if got == nil {
				t.Fatalf("UploadForSession: got no upload, want %s", u.ID)
			}
			if d := cmp.Diff(*got, u, uploadOpts); d != "" {
				t.Errorf("UploadForSession's upload (-got +want):\n%s", d)
			}
			if got.CreatedAt.Location() != time.UTC || gotSess.ExpiresAt.Location() != time.UTC {
				t.Errorf("times: got zones %v and %v, want UTC", got.CreatedAt.Location(), gotSess.ExpiresAt.Location())
			}
		}
	})

	t.Run("UploadForSession returns the session without an upload the user cannot see", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner, other := f.owner(), f.owner()
		sess := f.session(owner)
		others := f.upload(other, uploadsT0)
		deleted := f.newUpload(owner, uploadsT0)
		deleted.MarkDeleted(uploadsT0.Add(time.Minute))
		if err := f.Uploads.CreateUpload(f.ctx, deleted); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		cases := []struct{ name, id string }{
			{"another user's upload", others.ID},
			{"an unknown id", f.id()},
			{"a malformed id", "not-a-uuid"},
			{"an empty id", ""},
			{"a deleted upload", deleted.ID},
		}
		for _, tc := range cases {
			gotSess, gotUser, got, err := f.Uploads.UploadForSession(f.ctx, sess.TokenHash, tc.id)
			if err != nil {
				t.Errorf("UploadForSession of %s: got error %v, want nil", tc.name, err)
				continue
			}
			if got != nil {
				t.Errorf("UploadForSession of %s: got upload %s, want none", tc.name, got.ID)
			}
			if gotSess.ID != sess.ID || gotUser.ID != owner {
				t.Errorf("UploadForSession of %s: got session %s of user %s, want %s of %s", tc.name, gotSess.ID, gotUser.ID, sess.ID, owner)
			}
		}
	})

	t.Run("UploadForSession of an unknown token is invalid_session, whatever the upload", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.upload(owner, uploadsT0)
		var unknown domain.TokenHash
		unknown[0] = 1
		for _, id := range []string{u.ID, f.id(), "not-a-uuid"} {
			_, _, got, err := f.Uploads.UploadForSession(f.ctx, unknown, id)
			if got != nil {
				t.Errorf("UploadForSession(%q): got upload %s, want none", id, got.ID)
			}
			switch {
			case domain.KindOf(err) != domain.KindUnauthenticated:
				t.Errorf("UploadForSession(%q): got error %v (kind %v), want kind %v", id, err, domain.KindOf(err), domain.KindUnauthenticated)
			case domain.CodeOf(err) != domain.CodeSessionInvalid:
				t.Errorf("UploadForSession(%q): got code %q, want %q", id, domain.CodeOf(err), domain.CodeSessionInvalid)
			}
		}
	})

	t.Run("UploadForSession inside a transaction sees its writes", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		sess := f.session(owner)
		u := f.newUpload(owner, uploadsT0)
		err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
			if err := f.Uploads.CreateUpload(ctx, u); err != nil {
				return err
			}
			_, _, got, err := f.Uploads.UploadForSession(ctx, sess.TokenHash, u.ID)
			if err != nil {
				return err
			}
			if got == nil || got.ID != u.ID {
				t.Errorf("UploadForSession inside the transaction: got %v, want upload %s", got, u.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithinTx: %v", err)
		}
	})
}

func runUploadList(t *testing.T, newStores func(t *testing.T) UploadStores) {
	// listAll pages through the owner's uploads limit at a time.
	listAll := func(f uploadFixture, owner string, limit int) (ids []string, pages int) {
		f.t.Helper()
		var after *ports.UploadCursor
		for {
			page, err := f.Uploads.ListUploads(f.ctx, owner, limit, after)
			if err != nil {
				f.t.Fatalf("ListUploads: got error %v, want nil", err)
			}
			pages++
			if len(page.Uploads) > limit {
				f.t.Fatalf("ListUploads: got %d uploads, want at most %d", len(page.Uploads), limit)
			}
			for _, u := range page.Uploads {
				ids = append(ids, u.ID)
			}
			if page.Next == nil {
				return ids, pages
			}
			if len(page.Uploads) == 0 || pages > 100 {
				f.t.Fatalf("ListUploads: a page of %d uploads with a next cursor", len(page.Uploads))
			}
			after = page.Next
		}
	}

	t.Run("ListUploads pages newest first by creation time and then id, across equal times", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		// Four uploads share one creation time, so only the id orders them.
		times := []time.Duration{0, time.Second, 0, -time.Second, 0, 2 * time.Second, 0, -time.Microsecond}
		var all []domain.Upload
		for _, d := range times {
			all = append(all, f.upload(owner, uploadsT0.Add(d)))
		}
		want := newestFirst(all)
		for _, limit := range []int{1, 3, 4, len(all), len(all) + 1, ports.MaxUploadPage} {
			got, pages := listAll(f, owner, limit)
			if d := cmp.Diff(got, want); d != "" {
				t.Errorf("limit %d: listed ids (-got +want):\n%s", limit, d)
			}
			if wantPages := (len(all) + limit - 1) / limit; pages != wantPages {
				t.Errorf("limit %d: got %d pages, want %d (no empty last page)", limit, pages, wantPages)
			}
		}
	})

	t.Run("ListUploads returns uploads intact", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.settledUpload(owner)
		if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		page, err := f.Uploads.ListUploads(f.ctx, owner, 10, nil)
		if err != nil {
			t.Fatalf("ListUploads: %v", err)
		}
		if d := cmp.Diff(page, ports.UploadPage{Uploads: []domain.Upload{u}}, uploadOpts); d != "" {
			t.Errorf("ListUploads (-got +want):\n%s", d)
		}
	})

	t.Run("ListUploads shows only the owner's uploads and never deleted ones", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner, other := f.owner(), f.owner()
		mine := f.upload(owner, uploadsT0)
		f.upload(other, uploadsT0.Add(time.Second))
		gone := f.upload(owner, uploadsT0.Add(2*time.Second))
		if err := f.Uploads.UpdateUpload(f.ctx, gone.ID, func(u *domain.Upload) error {
			u.MarkDeleted(uploadsT0.Add(time.Minute))
			return nil
		}); err != nil {
			t.Fatalf("UpdateUpload: %v", err)
		}
		got, _ := listAll(f, owner, 1)
		if d := cmp.Diff(got, []string{mine.ID}); d != "" {
			t.Errorf("listed ids (-got +want):\n%s", d)
		}
		if got, _ := listAll(f, f.owner(), 5); len(got) != 0 {
			t.Errorf("an owner without uploads: got %d uploads, want 0", len(got))
		}
	})

	t.Run("ListUploads after a cursor is stable while uploads are added", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		var all []domain.Upload
		for i := range 4 {
			all = append(all, f.upload(owner, uploadsT0.Add(time.Duration(i)*time.Second)))
		}
		first, err := f.Uploads.ListUploads(f.ctx, owner, 2, nil)
		if err != nil || first.Next == nil {
			t.Fatalf("ListUploads: got next %v, error %v; want a next cursor", first.Next, err)
		}
		f.upload(owner, uploadsT0.Add(time.Hour)) // newer than everything
		second, err := f.Uploads.ListUploads(f.ctx, owner, 2, first.Next)
		if err != nil {
			t.Fatalf("ListUploads: %v", err)
		}
		want := newestFirst(all)[2:]
		var got []string
		for _, u := range second.Uploads {
			got = append(got, u.ID)
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("second page (-got +want):\n%s", d)
		}
		if second.Next != nil {
			t.Errorf("second page: got next cursor %+v, want nil", *second.Next)
		}
	})

	t.Run("ListUploads and StaleUploads refuse a limit out of range with KindInternal", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		for _, limit := range []int{0, -1, ports.MaxUploadPage + 1} {
			_, err := f.Uploads.ListUploads(f.ctx, owner, limit, nil)
			wantUploadErr(t, fmt.Sprintf("ListUploads(limit %d)", limit), err, domain.KindInternal)
			_, err = f.Uploads.StaleUploads(f.ctx, domain.UploadPending, uploadsT0, limit)
			wantUploadErr(t, fmt.Sprintf("StaleUploads(limit %d)", limit), err, domain.KindInternal)
		}
	})
}

// newestFirst returns the ids of uploads in list order.
func newestFirst(uploads []domain.Upload) []string {
	s := append([]domain.Upload(nil), uploads...)
	for i := 1; i < len(s); i++ { // insertion sort: few items, no imports
		for j := i; j > 0 && before(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	ids := make([]string, len(s))
	for i, u := range s {
		ids[i] = u.ID
	}
	return ids
}

// before reports whether a is listed before b: newer, or as new with a
// greater id.
func before(a, b domain.Upload) bool {
	ta, tb := a.CreatedAt.UTC().Truncate(time.Microsecond), b.CreatedAt.UTC().Truncate(time.Microsecond)
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.ID > b.ID
}

func runUploadUpdate(t *testing.T, newStores func(t *testing.T) UploadStores) {
	t.Run("UpdateUpload stores what fn changes", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		u := f.upload(f.owner(), uploadsT0)
		obj := domain.ObjectInfo{Bucket: u.Bucket, Key: u.Key, VersionID: "v-9", ETag: "e-9", ContentType: u.ContentType, SizeBytes: u.SizeBytes}
		if _, err := u.Complete(obj, uploadsT0.Add(time.Minute)); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		err := f.Uploads.UpdateUpload(f.ctx, u.ID, func(cur *domain.Upload) error {
			_, err := cur.Complete(obj, uploadsT0.Add(time.Minute))
			return err
		})
		if err != nil {
			t.Fatalf("UpdateUpload: got error %v, want nil", err)
		}
		f.want(u)
	})

	t.Run("UpdateUpload returns fn's error as is and stores nothing", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		u := f.upload(f.owner(), uploadsT0)
		err := f.Uploads.UpdateUpload(f.ctx, u.ID, func(cur *domain.Upload) error {
			cur.MarkDeleted(uploadsT0.Add(time.Minute))
			return errUploadFn
		})
		if !errors.Is(err, errUploadFn) {
			t.Errorf("UpdateUpload: got error %v, want fn's error", err)
		}
		f.want(u)
	})

	t.Run("UpdateUpload of an unknown upload is KindNotFound and does not call fn", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		called := false
		err := f.Uploads.UpdateUpload(f.ctx, f.id(), func(*domain.Upload) error { called = true; return nil })
		wantUploadErr(t, "UpdateUpload", err, domain.KindNotFound)
		if called {
			t.Error("fn was called for an unknown upload")
		}
	})

	t.Run("UpdateUpload finds uploads of any owner, deleted ones too", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		u := f.newUpload(f.owner(), uploadsT0)
		u.MarkDeleted(uploadsT0.Add(time.Minute))
		if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		var seen domain.UploadStatus
		if err := f.Uploads.UpdateUpload(f.ctx, u.ID, func(cur *domain.Upload) error { seen = cur.Status; return nil }); err != nil {
			t.Fatalf("UpdateUpload: got error %v, want nil", err)
		}
		if seen != domain.UploadDeleted {
			t.Errorf("fn saw status %q, want %q", seen, domain.UploadDeleted)
		}
	})

	t.Run("UpdateUpload in a transaction that fails keeps nothing", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		u := f.upload(owner, uploadsT0)
		err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
			if err := f.Uploads.UpdateUpload(ctx, u.ID, func(cur *domain.Upload) error {
				cur.MarkDeleted(uploadsT0.Add(time.Minute))
				return nil
			}); err != nil {
				return err
			}
			if _, err := f.Uploads.UploadByID(ctx, u.ID, owner); !domain.IsKind(err, domain.KindNotFound) {
				t.Errorf("UploadByID inside the transaction: got error %v, want KindNotFound (deleted)", err)
			}
			return errUploadFn
		})
		if !errors.Is(err, errUploadFn) {
			t.Fatalf("WithinTx: got error %v, want fn's error", err)
		}
		f.want(u)
	})

	t.Run("UpdateUpload refuses fn changing the id, owner, bucket, key or creation time with KindInternal", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner, other := f.owner(), f.owner()
		u := f.upload(owner, uploadsT0)
		otherID := f.id()
		changes := map[string]func(*domain.Upload){
			"id":            func(c *domain.Upload) { c.ID = otherID },
			"owner":         func(c *domain.Upload) { c.OwnerID = other },
			"bucket":        func(c *domain.Upload) { c.Bucket = "other-bucket" },
			"key":           func(c *domain.Upload) { c.Key = "quarantine/" + otherID },
			"creation time": func(c *domain.Upload) { c.CreatedAt = c.CreatedAt.Add(time.Second) },
		}
		for name, change := range changes {
			err := f.Uploads.UpdateUpload(f.ctx, u.ID, func(c *domain.Upload) error {
				change(c)
				c.Filename = "changed.pdf"
				return nil
			})
			wantUploadErr(t, "UpdateUpload changing the "+name, err, domain.KindInternal)
		}
		f.want(u)
	})

	t.Run("concurrent UpdateUpload calls lose no change", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		u := f.upload(f.owner(), uploadsT0)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = f.Uploads.UpdateUpload(f.ctx, u.ID, func(cur *domain.Upload) error {
					cur.Filename += "x"
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdateUpload %d: got error %v, want nil", i, err)
			}
		}
		u.Filename += strings.Repeat("x", n)
		f.want(u)
	})
}

func runStaleUploads(t *testing.T, newStores func(t *testing.T) UploadStores) {
	t.Run("StaleUploads returns uploads in the status last changed before the time, oldest change first, up to limit", func(t *testing.T) {
		t.Parallel()
		f := newUploadFixture(t, newStores)
		owner := f.owner()
		// The only times before 2000 in the suite: nothing else is this stale.
		era := time.Date(1990, time.May, 5, 5, 5, 5, 5000, time.FixedZone("UTC+1", 60*60))
		cutoff := era.Add(time.Hour)
		mk := func(created time.Time, change func(*domain.Upload)) domain.Upload {
			u := f.newUpload(owner, created)
			if change != nil {
				change(&u)
			}
			if err := f.Uploads.CreateUpload(f.ctx, u); err != nil {
				t.Fatalf("CreateUpload: %v", err)
			}
			return u
		}
		complete := func(at time.Time) func(*domain.Upload) {
			return func(u *domain.Upload) {
				obj := domain.ObjectInfo{Bucket: u.Bucket, Key: u.Key, VersionID: "v", ETag: "e", ContentType: u.ContentType, SizeBytes: u.SizeBytes}
				if _, err := u.Complete(obj, at); err != nil {
					t.Fatalf("Complete: %v", err)
				}
			}
		}
		p1 := mk(era.Add(30*time.Minute), nil)
		p2 := mk(era, nil)
		p3 := mk(era.Add(30*time.Minute), nil)                 // same time as p1: id breaks the tie
		mk(cutoff, nil)                                        // not before the cutoff
		mk(era.Add(2*time.Hour), nil)                          // after it
		s1 := mk(era, complete(era.Add(10*time.Minute)))       // scanning, changed before the cutoff
		mk(era, complete(cutoff.Add(time.Minute)))             // scanning, changed after it
		mk(era, func(u *domain.Upload) { u.MarkDeleted(era) }) // another status

		ids := func(us []domain.Upload) []string {
			out := []string{}
			for _, u := range us {
				out = append(out, u.ID)
			}
			return out
		}
		pendingOrder := []string{p2.ID}
		if p1.ID < p3.ID {
			pendingOrder = append(pendingOrder, p1.ID, p3.ID)
		} else {
			pendingOrder = append(pendingOrder, p3.ID, p1.ID)
		}
		cases := []struct {
			status domain.UploadStatus
			limit  int
			want   []string
		}{
			{domain.UploadPending, 10, pendingOrder},
			{domain.UploadPending, 2, pendingOrder[:2]},
			{domain.UploadScanning, 10, []string{s1.ID}},
			{domain.UploadAccepted, 10, []string{}},
		}
		for _, tc := range cases {
			got, err := f.Uploads.StaleUploads(f.ctx, tc.status, cutoff, tc.limit)
			if err != nil {
				t.Fatalf("StaleUploads(%s, %d): got error %v, want nil", tc.status, tc.limit, err)
			}
			if d := cmp.Diff(ids(got), tc.want); d != "" {
				t.Errorf("StaleUploads(%s, %d) ids (-got +want):\n%s", tc.status, tc.limit, d)
			}
		}
		got, err := f.Uploads.StaleUploads(f.ctx, domain.UploadScanning, cutoff, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("StaleUploads: got %d uploads, error %v; want 1", len(got), err)
		}
		if d := cmp.Diff(got[0], s1, uploadOpts); d != "" {
			t.Errorf("StaleUploads returned upload (-got +want):\n%s", d)
		}
	})
}
