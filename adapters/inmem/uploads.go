package inmem

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var (
	_ ports.Tx          = (*UploadStore)(nil)
	_ ports.UploadStore = (*UploadStore)(nil)
)

// errUploadsStale makes UploadStore.WithinTx run fn again: the uploads the
// transaction read were changed outside it.
var errUploadsStale = errors.New("uploads changed outside the transaction")

// errUploadsOutsideTx reports a Store transaction that was not started by
// UploadStore.WithinTx: uploads could not be kept or dropped with it.
var errUploadsOutsideTx = errors.New("uploads used in a transaction not started by UploadStore.WithinTx")

// UploadStore is the in-memory ports.UploadStore. Its table sits beside a
// Store and takes part in that Store's transactions: UploadStore.WithinTx
// runs the Store's WithinTx and keeps the uploads written in it if and only
// if the Store commits, so the uploads use cases take it as their ports.Tx
// and the Store as their ports.Outbox. Using it with a ctx that carries a
// transaction the Store started by itself is a domain.KindInternal error
// (the change could not be rolled back with it).
//
// It keeps the database's rules: ids are UUIDs, owners are existing users
// (a foreign key), ids and bucket plus key are unique, statuses are known,
// times are kept in UTC to the microsecond. Transactions see their own
// writes first and publish them all at once; one that read uploads changed
// outside it since runs again, as PostgreSQL retries a serialization
// failure. It is safe for concurrent use.
type UploadStore struct {
	store *Store

	mu      sync.Mutex // guards rows, version and every uploadsTx
	rows    uploadRowSet
	version uint64
}

// NewUploadStore returns an empty UploadStore whose uploads belong to the
// users of store and join its transactions.
func NewUploadStore(store *Store) *UploadStore {
	return &UploadStore{store: store, rows: newUploadRowSet()}
}

// uploadRowSet is the uploads table with its unique index on the object.
type uploadRowSet struct {
	byID     map[string]domain.Upload
	byObject map[uploadObject]string
}

type uploadObject struct{ bucket, key string }

func newUploadRowSet() uploadRowSet {
	return uploadRowSet{byID: map[string]domain.Upload{}, byObject: map[uploadObject]string{}}
}

func (r uploadRowSet) clone() uploadRowSet {
	return uploadRowSet{byID: maps.Clone(r.byID), byObject: maps.Clone(r.byObject)}
}

// uploadsTx is one run of a transaction's fn: its copy of the table, taken
// on first use.
type uploadsTx struct {
	rows    uploadRowSet
	base    uint64
	touched bool
	written bool
	done    bool
}

type uploadsTxKey struct{ s *UploadStore }

// WithinTx runs fn as one transaction of the Store and of the uploads: what
// fn does through either with the ctx it receives is kept only if fn
// returns nil and the Store commits. fn's error is returned as is. A ctx
// that already carries such a transaction is joined. fn runs again when
// uploads or Store tables it read were changed outside it meanwhile; if
// that keeps happening the error is domain.KindUnavailable.
func (s *UploadStore) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	const op = "inmem.UploadStore.WithinTx"
	if t := s.txFrom(ctx); t != nil {
		s.mu.Lock()
		done := t.done
		s.mu.Unlock()
		if done {
			return domain.Wrap(domain.KindInternal, op, errTxDone)
		}
		return fn(ctx)
	}
	if s.store.txFrom(ctx) != nil {
		return domain.Wrap(domain.KindInternal, op, errUploadsOutsideTx)
	}
	for range maxTxAttempts {
		var (
			t      *uploadsTx
			locked bool // s.mu is held from the end of fn to the end of the commit
		)
		err := s.store.WithinTx(ctx, func(ctx context.Context) error {
			if locked { // the Store runs fn again: the last run is void
				t.done = true
				s.mu.Unlock()
				locked = false
			}
			t = &uploadsTx{}
			if err := fn(context.WithValue(ctx, uploadsTxKey{s}, t)); err != nil {
				return err
			}
			s.mu.Lock()
			if t.touched && t.base != s.version {
				t.done = true
				s.mu.Unlock()
				return errUploadsStale
			}
			locked = true
			return nil
		})
		if errors.Is(err, errUploadsStale) {
			continue
		}
		if !locked {
			if t != nil {
				s.mu.Lock()
				t.done = true
				s.mu.Unlock()
			}
			return err
		}
		if err == nil && t.written { // the Store committed
			s.rows = t.rows
			s.version++
		}
		t.done = true
		s.mu.Unlock()
		return err
	}
	return domain.Wrap(domain.KindUnavailable, op, errSerialization)
}

func (s *UploadStore) txFrom(ctx context.Context) *uploadsTx {
	t, _ := ctx.Value(uploadsTxKey{s}).(*uploadsTx)
	return t
}

// enter starts one call: it fails like a database call would when ctx is
// done or carries an ended or foreign transaction, and otherwise locks s.mu,
// which the caller must unlock, and returns the rows the call sees and a
// function to call before changing them.
func (s *UploadStore) enter(ctx context.Context, op string) (rows uploadRowSet, write func(), err error) {
	if err := ctx.Err(); err != nil {
		return uploadRowSet{}, nil, domain.Wrap(domain.KindUnavailable, op, err)
	}
	t := s.txFrom(ctx)
	if t == nil && s.store.txFrom(ctx) != nil {
		return uploadRowSet{}, nil, domain.Wrap(domain.KindInternal, op, errUploadsOutsideTx)
	}
	s.mu.Lock()
	if t == nil {
		return s.rows, func() { s.version++ }, nil
	}
	if t.done {
		s.mu.Unlock()
		return uploadRowSet{}, nil, domain.Wrap(domain.KindInternal, op, errTxDone)
	}
	if !t.touched {
		t.rows, t.base, t.touched = s.rows.clone(), s.version, true
	}
	return t.rows, func() { t.written = true }, nil
}

// uploadRow returns u as stored and read back: times normalised, nothing
// shared with u.
func uploadRow(u domain.Upload) domain.Upload {
	u.CreatedAt = dbTime(u.CreatedAt)
	u.UpdatedAt = dbTime(u.UpdatedAt)
	u.CompletedAt = dbTimePtr(u.CompletedAt)
	if u.Verdict != nil {
		v := *u.Verdict
		v.Threats = slices.Clone(v.Threats)
		v.Reasons = slices.Clone(v.Reasons)
		u.Verdict = &v
	}
	if u.Scan != nil {
		r := *u.Scan
		r.Threats = slices.Clone(r.Threats)
		r.CompletedAt = dbTime(r.CompletedAt)
		u.Scan = &r
	}
	return u
}

func uploadNotFound(op string) error {
	return &domain.Error{Kind: domain.KindNotFound, Op: op, Msg: "The upload does not exist."}
}

// checkUploadRow refuses what the uploads table's types and checks refuse.
func checkUploadRow(op string, u domain.Upload) error {
	switch {
	case !domain.ValidID(u.ID):
		return internal(op, "upload id is not a UUID")
	case !domain.ValidID(u.OwnerID):
		return internal(op, "upload owner is not a UUID")
	case u.Bucket == "" || u.Key == "":
		return internal(op, "upload has no bucket or key")
	case !u.Status.Valid():
		return internal(op, "unknown upload status "+string(u.Status))
	case u.CreatedAt.IsZero() || u.UpdatedAt.IsZero():
		return internal(op, "upload has no creation or update time")
	}
	return nil
}

// CreateUpload stores a new upload. A taken id or object is a
// domain.KindConflict error; an upload of an unknown owner, a malformed id,
// an unknown status or missing times are domain.KindInternal errors (the
// database would refuse them with a constraint).
func (s *UploadStore) CreateUpload(ctx context.Context, u domain.Upload) error {
	const op = "inmem.UploadStore.CreateUpload"
	if err := checkUploadRow(op, u); err != nil {
		return err
	}
	if _, err := s.store.UserByID(ctx, u.OwnerID); err != nil {
		if domain.IsKind(err, domain.KindNotFound) {
			return internal(op, "upload owner does not exist")
		}
		return err
	}
	rows, write, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	obj := uploadObject{u.Bucket, u.Key}
	if _, taken := rows.byID[u.ID]; taken {
		return conflict(op, "", "An upload with this id already exists.")
	}
	if _, taken := rows.byObject[obj]; taken {
		return conflict(op, "", "An upload with this object already exists.")
	}
	write()
	rows.byID[u.ID] = uploadRow(u)
	rows.byObject[obj] = u.ID
	return nil
}

// UploadByID returns the owner's upload unless it is deleted; anything else
// is a domain.KindNotFound error.
func (s *UploadStore) UploadByID(ctx context.Context, id, ownerID string) (domain.Upload, error) {
	const op = "inmem.UploadStore.UploadByID"
	rows, _, err := s.enter(ctx, op)
	if err != nil {
		return domain.Upload{}, err
	}
	defer s.mu.Unlock()
	u, ok := rows.byID[id]
	if !ok || u.OwnerID != ownerID || u.Status == domain.UploadDeleted {
		return domain.Upload{}, uploadNotFound(op)
	}
	return uploadRow(u), nil
}

// UploadForSession reads the session and its user from the Store the
// UploadStore was made over, then the user's upload as UploadByID does: an
// upload the user cannot see is nil. Lifetimes are not checked.
func (s *UploadStore) UploadForSession(ctx context.Context, hash domain.TokenHash, id string) (domain.Session, domain.User, *domain.Upload, error) {
	sess, user, err := s.store.SessionByTokenHash(ctx, hash)
	if err != nil {
		return domain.Session{}, domain.User{}, nil, err
	}
	u, err := s.UploadByID(ctx, id, user.ID)
	if domain.IsKind(err, domain.KindNotFound) {
		return sess, user, nil, nil
	}
	if err != nil {
		return domain.Session{}, domain.User{}, nil, err
	}
	return sess, user, &u, nil
}

// compareNewestFirst orders uploads by creation time, then id, both
// descending.
func compareNewestFirst(a, b domain.Upload) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// ListUploads returns a page of the owner's uploads that are not deleted,
// newest first; see ports.UploadStore.
func (s *UploadStore) ListUploads(ctx context.Context, ownerID string, limit int, after *ports.UploadCursor) (ports.UploadPage, error) {
	const op = "inmem.UploadStore.ListUploads"
	if limit < 1 || limit > ports.MaxUploadPage {
		return ports.UploadPage{}, internal(op, "limit must be between 1 and ports.MaxUploadPage")
	}
	rows, _, err := s.enter(ctx, op)
	if err != nil {
		return ports.UploadPage{}, err
	}
	defer s.mu.Unlock()
	var pos domain.Upload
	if after != nil {
		pos = domain.Upload{CreatedAt: dbTime(after.CreatedAt), ID: after.ID}
	}
	var all []domain.Upload
	for _, u := range rows.byID {
		if u.OwnerID != ownerID || u.Status == domain.UploadDeleted {
			continue
		}
		if after != nil && compareNewestFirst(u, pos) <= 0 {
			continue
		}
		all = append(all, u)
	}
	slices.SortFunc(all, compareNewestFirst)
	page := ports.UploadPage{Uploads: []domain.Upload{}}
	for i, u := range all {
		if i == limit {
			last := page.Uploads[limit-1]
			page.Next = &ports.UploadCursor{CreatedAt: last.CreatedAt, ID: last.ID}
			break
		}
		page.Uploads = append(page.Uploads, uploadRow(u))
	}
	return page, nil
}

// UpdateUpload lets fn change a copy of the upload and stores the result;
// see ports.UploadStore. Outside a transaction it runs in one of its own.
func (s *UploadStore) UpdateUpload(ctx context.Context, id string, fn func(*domain.Upload) error) error {
	const op = "inmem.UploadStore.UpdateUpload"
	if s.txFrom(ctx) == nil {
		return s.WithinTx(ctx, func(ctx context.Context) error { return s.UpdateUpload(ctx, id, fn) })
	}
	rows, _, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	old, ok := rows.byID[id]
	s.mu.Unlock()
	if !ok {
		return uploadNotFound(op)
	}
	u := uploadRow(old)
	// fn runs without the lock: it is the caller's code and may be slow.
	if err := fn(&u); err != nil {
		return err
	}
	switch {
	case u.ID != old.ID || u.OwnerID != old.OwnerID || u.Bucket != old.Bucket || u.Key != old.Key:
		return internal(op, "fn changed the upload's id, owner, bucket or key")
	case !dbTime(u.CreatedAt).Equal(old.CreatedAt):
		return internal(op, "fn changed the upload's creation time")
	}
	if err := checkUploadRow(op, u); err != nil {
		return err
	}
	rows, write, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	write()
	rows.byID[id] = uploadRow(u)
	return nil
}

// UploadByObject returns the upload of that quarantine object, whatever its
// status, or a domain.KindNotFound error.
func (s *UploadStore) UploadByObject(ctx context.Context, bucket, key string) (domain.Upload, error) {
	const op = "inmem.UploadStore.UploadByObject"
	rows, _, err := s.enter(ctx, op)
	if err != nil {
		return domain.Upload{}, err
	}
	defer s.mu.Unlock()
	id, ok := rows.byObject[uploadObject{bucket, key}]
	if !ok {
		return domain.Upload{}, uploadNotFound(op)
	}
	return uploadRow(rows.byID[id]), nil
}

// StaleUploads returns uploads in status last changed before olderThan,
// oldest change first; see ports.UploadStore.
func (s *UploadStore) StaleUploads(ctx context.Context, status domain.UploadStatus, olderThan time.Time, limit int) ([]domain.Upload, error) {
	const op = "inmem.UploadStore.StaleUploads"
	switch {
	case limit < 1 || limit > ports.MaxUploadPage:
		return nil, internal(op, "limit must be between 1 and ports.MaxUploadPage")
	case !status.Valid():
		return nil, internal(op, "unknown upload status "+string(status))
	}
	rows, _, err := s.enter(ctx, op)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	cutoff := dbTime(olderThan)
	var out []domain.Upload
	for _, u := range rows.byID {
		if u.Status == status && u.UpdatedAt.Before(cutoff) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b domain.Upload) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	out = out[:min(limit, len(out))]
	for i := range out {
		out[i] = uploadRow(out[i])
	}
	return out, nil
}
