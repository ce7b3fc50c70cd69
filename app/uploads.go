package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// Event types the uploads use cases emit, each when an upload moves into
// that status (a later rejection of an accepted upload emits
// upload.rejected too). Their detail is JSON: upload_id, owner_id, status,
// content_type, size_bytes, and for rejections result, code and threats.
// It never carries the file name.
const (
	EventUploadAccepted = "upload.accepted"
	EventUploadRejected = "upload.rejected"
)

// CodeInvalidCursor is the client code of a list cursor this service did
// not hand out.
const CodeInvalidCursor = "invalid_cursor"

// DefaultUploadPage is the page size of an upload list when the client asks
// for none; ports.MaxUploadPage is the largest.
const DefaultUploadPage = 20

// UploadsConfig holds the uploads use cases' settings.
type UploadsConfig struct {
	// Bucket is the versioned bucket of the object store; verdicts about
	// other buckets are ignored.
	Bucket string
	// QuarantinePrefix is where clients PUT (the area GuardDuty protects);
	// AcceptedPrefix is where clean files are copied and downloaded from
	// (clients can never write there). Both end in "/", and neither may
	// contain the other. They must be the object store's upload and
	// download prefixes. An upload's key is QuarantinePrefix + its id, its
	// accepted copy AcceptedPrefix + its id, so changing a prefix strands
	// the objects of existing uploads.
	QuarantinePrefix string
	AcceptedPrefix   string
	// PutURLTTL is how long the presigned PUT is valid; GetURLTTL how long
	// a download link is.
	PutURLTTL time.Duration
	GetURLTTL time.Duration
	// Policy says how large and of which types uploads may be.
	Policy domain.UploadPolicy
	// ScanStaleAfter is how long an upload may wait in scanning for its
	// verdict event before the reconciler reads the verdict from the
	// object's scan tag instead.
	ScanStaleAfter time.Duration
	// ScanGiveUpAfter is how long after complete an upload whose object has
	// no scan tag yet is failed (scan_failed) rather than waited for: the
	// scan was lost, or tagging is off and the event never came. It is
	// longer than ScanStaleAfter and than the event's delivery retries.
	ScanGiveUpAfter time.Duration
	// PendingGrace is how long past its PUT URL's expiry an upload may stay
	// pending (the client may be slow to call complete) before the
	// reconciler expires it.
	PendingGrace time.Duration
	// ReconcileBatch is how many uploads of each kind one reconciler pass
	// looks at (1 to ports.MaxUploadPage).
	ReconcileBatch int
}

// DefaultUploadsConfig returns the defaults for everything but the bucket:
// PUT links for 15 minutes, download links for 5, scanning reconciled after
// 15 minutes and given up after 25 hours (EventBridge retries a delivery for
// 24), pending uploads expired an hour after their PUT link.
func DefaultUploadsConfig() UploadsConfig {
	return UploadsConfig{
		QuarantinePrefix: "quarantine/",
		AcceptedPrefix:   "accepted/",
		PutURLTTL:        15 * time.Minute,
		GetURLTTL:        5 * time.Minute,
		Policy:           domain.DefaultUploadPolicy(),
		ScanStaleAfter:   15 * time.Minute,
		ScanGiveUpAfter:  25 * time.Hour,
		PendingGrace:     domain.DefaultUploadPendingGrace,
		ReconcileBatch:   ports.MaxUploadPage,
	}
}

// Validate returns a KindInternal error (a configuration bug) naming the
// first setting that is wrong.
func (c UploadsConfig) Validate() error {
	bad := func(msg string) error {
		return domain.Wrap(domain.KindInternal, "app.UploadsConfig", errors.New(msg))
	}
	prefixOK := func(p string) bool { return len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasPrefix(p, "/") }
	ttlOK := func(d time.Duration) bool { return d >= time.Second && d <= ports.MaxPresignExpiry }
	switch {
	case c.Bucket == "":
		return bad("the upload bucket is not set")
	case !prefixOK(c.QuarantinePrefix) || !prefixOK(c.AcceptedPrefix):
		return bad("the quarantine and accepted prefixes must be non-empty, end in / and not start with /")
	case strings.HasPrefix(c.QuarantinePrefix, c.AcceptedPrefix) || strings.HasPrefix(c.AcceptedPrefix, c.QuarantinePrefix):
		return bad("the quarantine and accepted prefixes overlap")
	case !ttlOK(c.PutURLTTL) || !ttlOK(c.GetURLTTL):
		return bad("presigned URL lifetimes must be between one second and seven days")
	case c.ScanStaleAfter <= 0 || c.ScanGiveUpAfter <= c.ScanStaleAfter:
		return bad("the scan give-up time must be longer than the positive stale-after time")
	case c.PendingGrace < 0:
		return bad("the pending grace must not be negative")
	case c.ReconcileBatch < 1 || c.ReconcileBatch > ports.MaxUploadPage:
		return bad("the reconcile batch must be between 1 and " + strconv.Itoa(ports.MaxUploadPage))
	}
	return c.Policy.Validate()
}

// UploadStores are the storage ports the uploads use cases need. Tx must be
// the unit of work of Uploads and Outbox.
type UploadStores struct {
	Tx      ports.Tx
	Uploads ports.UploadStore
	Outbox  ports.Outbox
}

// Uploads is the scan-before-accept story: declare a file, PUT it straight
// to the object store, have it scanned, download it once accepted.
//
// The database is the gate: only an upload whose status is accepted ever
// gets a download link, and only of its copy in the accepted area, which
// clients cannot write. Object store calls never run inside a database
// transaction (they are slow and cannot be rolled back); each use case does
// its object work first or after, and the transaction re-reads the upload
// and re-decides with the domain rules, so a concurrent verdict, delete or
// retry is seen, and every step can be repeated. See HandleVerdict for why
// a crash between steps is safe.
type Uploads struct {
	stores  UploadStores
	objects ports.ObjectStore
	clock   ports.Clock
	random  io.Reader
	cfg     UploadsConfig
	log     *slog.Logger
}

// NewUploads returns the uploads use cases, or a KindInternal error when cfg
// is not valid. Ids come from crypto/rand.
func NewUploads(stores UploadStores, objects ports.ObjectStore, clock ports.Clock, cfg UploadsConfig, log *slog.Logger) (*Uploads, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Uploads{stores: stores, objects: objects, clock: clock, random: rand.Reader, cfg: cfg, log: log}, nil
}

// now is the clock's time as the database keeps it (UTC, microseconds), so
// what a use case returns equals what it stored.
func (s *Uploads) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// acceptedKey is where the clean copy of u lives.
func (s *Uploads) acceptedKey(u domain.Upload) string { return s.cfg.AcceptedPrefix + u.ID }

// errUnchanged ends an UpdateUpload whose fn decided to store nothing.
var errUnchanged = errors.New("app: nothing to store")

// NewUploadRequest is what a client declares about a file it is about to
// upload.
type NewUploadRequest struct {
	Filename    string
	ContentType string
	SizeBytes   int64
	SHA256      string // optional, hex
}

// CreatedUpload is a new upload and the presigned PUT that sends its bytes.
type CreatedUpload struct {
	Upload domain.Upload
	Put    ports.PresignedRequest
}

// Create declares an upload for ownerID and returns it, pending, with a
// presigned PUT into the quarantine area. The object key is the
// quarantine prefix and the server-generated id; the file name is only
// sanitised and kept for display. The PUT is bound to the declared content
// type and exact size (and SHA-256, when given), and valid for PutURLTTL.
// A declaration the policy refuses is the domain's KindInvalid error
// (content_type_not_allowed, file_too_large, invalid_upload,
// filename_type_mismatch).
func (s *Uploads) Create(ctx context.Context, ownerID string, req NewUploadRequest) (CreatedUpload, error) {
	now := s.now()
	id, err := domain.NewID(now, s.random)
	if err != nil {
		return CreatedUpload{}, err
	}
	u, err := domain.NewUpload(domain.NewUploadParams{
		ID:          id,
		OwnerID:     ownerID,
		Bucket:      s.cfg.Bucket,
		Key:         s.cfg.QuarantinePrefix + id,
		Filename:    req.Filename,
		ContentType: req.ContentType,
		SizeBytes:   req.SizeBytes,
		SHA256:      req.SHA256,
	}, s.cfg.Policy, now)
	if err != nil {
		return CreatedUpload{}, err
	}
	var sum []byte
	if u.SHA256 != "" {
		if sum, err = hex.DecodeString(u.SHA256); err != nil {
			return CreatedUpload{}, domain.Wrap(domain.KindInternal, "app.Uploads.Create", err)
		}
	}
	// Presign first: it is local computation, and a failure then leaves
	// nothing behind.
	put, err := s.objects.PresignPut(ctx, ports.PutRequest{Key: u.Key, ContentType: u.ContentType, Size: u.SizeBytes, SHA256: sum}, s.cfg.PutURLTTL)
	if err != nil {
		return CreatedUpload{}, err
	}
	if err := s.stores.Uploads.CreateUpload(ctx, u); err != nil {
		return CreatedUpload{}, err
	}
	return CreatedUpload{Upload: u, Put: put}, nil
}

// settled reports whether u is past the point where complete means anything.
func settled(u domain.Upload) bool {
	return u.Status != domain.UploadPending && u.Status != domain.UploadScanning
}

// Complete is the client saying its PUT is done. The object's current
// version is checked (HEAD) against the declaration and recorded, and the
// upload moves to scanning; if a clean verdict about exactly that version
// arrived earlier, the upload is promoted at once. It returns the upload as
// it is afterwards.
//
// A missing object or one of another size or type is KindInvalid
// upload_mismatch (the upload stays pending, and the client may PUT again
// while its URL is valid); completing an upload that is already scanning
// or settled changes nothing and returns it as it is, so a client that
// retries complete (or whose verdict came first) learns where its upload
// stands; another owner's upload is KindNotFound. A promotion that
// fails part-way is logged, not returned: the upload stays scanning with the
// verdict remembered, and the reconciler finishes it.
func (s *Uploads) Complete(ctx context.Context, ownerID, id string) (domain.Upload, error) {
	const op = "app.Uploads.Complete"
	u, err := s.stores.Uploads.UploadByID(ctx, id, ownerID)
	if err != nil {
		return domain.Upload{}, err
	}
	if settled(u) {
		return u, nil // nothing to look at: the quarantine object is gone
	}
	info, err := s.objects.Head(ctx, u.Key, "")
	if domain.IsKind(err, domain.KindNotFound) {
		return domain.Upload{}, &domain.Error{Kind: domain.KindInvalid, Code: domain.CodeUploadMismatch, Op: op,
			Msg: "The file has not been uploaded yet.", Err: err}
	} else if err != nil {
		return domain.Upload{}, err
	}
	obj := domain.ObjectInfo{
		Bucket:      cmp.Or(info.Bucket, s.cfg.Bucket),
		Key:         info.Key,
		VersionID:   info.VersionID,
		ETag:        info.ETag,
		ContentType: info.ContentType,
		SizeBytes:   info.Size,
	}
	now := s.now()
	var d domain.Decision
	err = s.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		err := s.stores.Uploads.UpdateUpload(ctx, id, func(cur *domain.Upload) error {
			if cur.OwnerID != ownerID || cur.Status == domain.UploadDeleted {
				return &domain.Error{Kind: domain.KindNotFound, Op: op, Msg: "The upload does not exist."}
			}
			u = *cur
			if settled(*cur) {
				return errUnchanged // a verdict settled it since we looked
			}
			var err error
			if d, err = cur.Complete(obj, now); err != nil {
				return err
			}
			u = *cur
			if d.Action == domain.ActionIgnore {
				return errUnchanged
			}
			return nil
		})
		if errors.Is(err, errUnchanged) {
			return nil
		}
		return err
	})
	if err != nil {
		return domain.Upload{}, err
	}
	if d.Action != domain.ActionPromote {
		return u, nil
	}
	out, err := s.promote(ctx, u, d.Verdict)
	if err != nil {
		s.log.WarnContext(ctx, "promotion at complete failed; the reconciler will retry it",
			"upload_id", u.ID, "error", err)
		return u, nil
	}
	return out, nil
}

// GetForSession is accounts.Authenticate(token) followed by Get of the
// signed-in user's upload id, in one store read (the hot read, GET
// /v1/uploads/{id}, costs one database round trip). Session errors come
// first and are Authenticate's; an upload the user cannot see is nil, not
// an error, so that the caller knows who asked even then.
func (s *Uploads) GetForSession(ctx context.Context, accounts *Accounts, token, id string) (Principal, *domain.Upload, error) {
	hash, err := domain.ParseSessionToken(token)
	if err != nil {
		return Principal{}, nil, err
	}
	sess, user, u, err := s.stores.Uploads.UploadForSession(ctx, hash, id)
	if err != nil {
		return Principal{}, nil, err
	}
	p, err := accounts.admit(ctx, sess, user)
	if err != nil {
		return Principal{}, nil, err
	}
	return p, u, nil
}

// UploadList is one page of an owner's uploads.
type UploadList struct {
	Uploads []domain.Upload // never nil
	// NextCursor fetches the following page; "" on the last one.
	NextCursor string
}

// List returns a page of the owner's uploads, newest first. limit 0 means
// DefaultUploadPage; larger than ports.MaxUploadPage means that. cursor is
// "" for the first page, else a NextCursor this service returned; anything
// else is KindInvalid invalid_cursor. Cursors are positions, not snapshots:
// uploads added meanwhile appear on the first page only, and none is listed
// twice or skipped.
func (s *Uploads) List(ctx context.Context, ownerID string, limit int, cursor string) (UploadList, error) {
	switch {
	case limit <= 0:
		limit = DefaultUploadPage
	case limit > ports.MaxUploadPage:
		limit = ports.MaxUploadPage
	}
	var after *ports.UploadCursor
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return UploadList{}, err
		}
		after = &c
	}
	page, err := s.stores.Uploads.ListUploads(ctx, ownerID, limit, after)
	if err != nil {
		return UploadList{}, err
	}
	out := UploadList{Uploads: page.Uploads}
	if out.Uploads == nil {
		out.Uploads = []domain.Upload{}
	}
	if page.Next != nil {
		out.NextCursor = encodeCursor(*page.Next)
	}
	return out, nil
}

// encodeCursor turns a list position into an opaque, URL-safe string.
func encodeCursor(c ports.UploadCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID))
}

// decodeCursor reads back what encodeCursor wrote.
func decodeCursor(s string) (ports.UploadCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	micros, id, ok := strings.Cut(string(raw), ".")
	n, perr := strconv.ParseInt(micros, 10, 64)
	if err != nil || !ok || perr != nil || !domain.ValidID(id) {
		return ports.UploadCursor{}, &domain.Error{Kind: domain.KindInvalid, Code: CodeInvalidCursor, Op: "app.decodeCursor",
			Msg:    "The cursor is not valid: use the next_cursor of a previous page.",
			Fields: []domain.FieldError{{Location: "query.cursor", Message: "is not a cursor this service returned"}}}
	}
	return ports.UploadCursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

// Download is a link that fetches an accepted file.
type Download struct {
	URL       string
	ExpiresAt time.Time
}

// Download returns a presigned GET of the accepted copy of the owner's
// upload, valid for GetURLTTL, offering the sanitised file name as an
// attachment with the validated content type. Only accepted uploads have
// one: any other status is KindConflict upload_not_accepted, another
// owner's upload KindNotFound.
func (s *Uploads) Download(ctx context.Context, ownerID, id string) (Download, error) {
	u, err := s.stores.Uploads.UploadByID(ctx, id, ownerID)
	if err != nil {
		return Download{}, err
	}
	if err := u.DownloadAllowed(); err != nil {
		return Download{}, err
	}
	req, err := s.objects.PresignGet(ctx, ports.GetRequest{
		Key:         s.acceptedKey(u),
		Filename:    u.Filename,
		ContentType: u.ContentType,
	}, s.cfg.GetURLTTL)
	if err != nil {
		return Download{}, err
	}
	return Download{URL: req.URL, ExpiresAt: req.ExpiresAt}, nil
}

// Delete removes the owner's upload: its objects in the quarantine and
// accepted areas (every version) and, then, the upload itself, which is
// KindNotFound from then on. Objects go first so that a failure leaves the
// upload in place and the client can retry; they are removed once more
// after the upload is marked deleted, in case a promotion running
// concurrently copied the file in between (that promotion also sees the
// delete and removes its copy itself).
func (s *Uploads) Delete(ctx context.Context, ownerID, id string) error {
	u, err := s.stores.Uploads.UploadByID(ctx, id, ownerID)
	if err != nil {
		return err
	}
	if err := s.removeObjects(ctx, u); err != nil {
		return err
	}
	now := s.now()
	err = s.stores.Tx.WithinTx(ctx, func(ctx context.Context) error {
		err := s.stores.Uploads.UpdateUpload(ctx, id, func(cur *domain.Upload) error {
			if cur.OwnerID != ownerID || cur.Status == domain.UploadDeleted {
				return errUnchanged // deleted meanwhile: done
			}
			cur.MarkDeleted(now)
			return nil
		})
		if errors.Is(err, errUnchanged) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := s.removeObjects(ctx, u); err != nil {
		s.log.WarnContext(ctx, "removing the objects of a deleted upload failed", "upload_id", u.ID, "error", err)
	}
	return nil
}

// removeObjects deletes every version of both of u's objects.
func (s *Uploads) removeObjects(ctx context.Context, u domain.Upload) error {
	return errors.Join(s.objects.Delete(ctx, u.Key), s.objects.Delete(ctx, s.acceptedKey(u)))
}
