package ports

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// MaxUploadPage is the most uploads one ListUploads call returns.
const MaxUploadPage = 100

// UploadCursor is a position in an owner's list of uploads, which runs newest
// first by creation time and then by id (both descending): the last upload
// of the page before. The app turns it into an opaque string for clients.
type UploadCursor struct {
	CreatedAt time.Time
	ID        string
}

// UploadPage is one page of an owner's uploads.
type UploadPage struct {
	Uploads []domain.Upload
	// Next is where the following page starts, or nil when no upload follows
	// this page.
	Next *UploadCursor
}

// UploadStore keeps uploads.
//
// A deleted upload stays stored with status deleted: its owner no longer
// sees it (UploadByID and ListUploads skip it), but UploadByObject and
// UpdateUpload still find it, so a scan verdict that arrives after the
// delete is recognised as late rather than as a stranger's object, and the
// object key is never given to another upload.
//
// Times go in with any precision and come back in UTC, to the microsecond
// (what timestamptz keeps). Values go in and come out as copies.
type UploadStore interface {
	// CreateUpload stores a new upload. An id, or a bucket and key, that
	// another upload already has is a domain.KindConflict error.
	CreateUpload(ctx context.Context, u domain.Upload) error

	// UploadByID returns the upload with that id if ownerID owns it and it
	// is not deleted. Anything else, an unknown or malformed id, another
	// owner's upload or a deleted one, is the same domain.KindNotFound
	// error, so nobody learns that someone else's upload exists.
	UploadByID(ctx context.Context, id, ownerID string) (domain.Upload, error)

	// UploadForSession is SessionStore.SessionByTokenHash and UploadByID of
	// the session's user in one read, so that the hot read (GET
	// /v1/uploads/{id}) costs one database round trip. It returns the
	// session and its user as SessionByTokenHash does (with the same error
	// for an unknown hash, and no lifetime checks), and the upload, or nil
	// wherever UploadByID would be domain.KindNotFound: an unknown or
	// malformed id, another user's upload, a deleted one.
	UploadForSession(ctx context.Context, hash domain.TokenHash, id string) (domain.Session, domain.User, *domain.Upload, error)

	// ListUploads returns up to limit (1 to MaxUploadPage) of the owner's
	// uploads that are not deleted, newest first: by creation time, then by
	// id, both descending. With after, the page starts just after that
	// position, so paging is stable while uploads are added (they appear on
	// the first page only). A limit out of range is a domain.KindInternal
	// error (the caller clamps what clients ask for).
	ListUploads(ctx context.Context, ownerID string, limit int, after *UploadCursor) (UploadPage, error)

	// UpdateUpload loads the upload, whatever its status and owner, locked
	// against concurrent updates until the surrounding transaction ends (or
	// in a transaction of its own outside one), lets fn change it and
	// stores the result. A missing upload is a domain.KindNotFound error
	// and fn is not called. An error from fn is returned as is and nothing
	// is stored. fn changing the id, owner, bucket, key or creation time is
	// a domain.KindInternal error and nothing is stored.
	UpdateUpload(ctx context.Context, id string, fn func(*domain.Upload) error) error

	// UploadByObject returns the upload whose quarantine object is bucket
	// and key, whatever its status and owner (scan verdicts name objects,
	// not uploads), or a domain.KindNotFound error.
	UploadByObject(ctx context.Context, bucket, key string) (domain.Upload, error)

	// StaleUploads returns up to limit (1 to MaxUploadPage) uploads in
	// status whose last change (UpdatedAt) is before olderThan, the oldest
	// change first, for the reconciler. A limit out of range or an invalid
	// status is a domain.KindInternal error.
	StaleUploads(ctx context.Context, status domain.UploadStatus, olderThan time.Time, limit int) ([]domain.Upload, error)
}
