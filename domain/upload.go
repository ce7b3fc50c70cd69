package domain

import (
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// UploadStatus is where an upload is in its life.
//
//	pending ──complete──▶ scanning ──clean──▶ accepted
//	   │  ╲                   │ ╲──infected──▶ rejected
//	   │   ╲ (early verdict)  ╰───not clean──▶ failed
//	   ╰──never completed──▶ expired
//	any ──delete──▶ deleted
//
// Only accepted ever yields a download. The statuses other than pending and
// scanning are terminal: nothing but a delete moves an upload out of them,
// with one exception that fails closed: malware found later in the very
// object that was accepted turns accepted into rejected.
type UploadStatus string

// The upload statuses.
const (
	UploadPending  UploadStatus = "pending"  // created; waiting for the client's PUT and complete
	UploadScanning UploadStatus = "scanning" // bytes recorded; waiting for the scan verdict
	UploadAccepted UploadStatus = "accepted" // scanned clean, type checked, copied to the accepted area
	UploadRejected UploadStatus = "rejected" // malware found, or content did not match its declared type
	UploadFailed   UploadStatus = "failed"   // could not be scanned or verified
	UploadExpired  UploadStatus = "expired"  // never completed in time
	UploadDeleted  UploadStatus = "deleted"  // removed by its owner
)

// Valid reports whether s is one of the known statuses.
func (s UploadStatus) Valid() bool {
	switch s {
	case UploadPending, UploadScanning, UploadAccepted, UploadRejected, UploadFailed, UploadExpired, UploadDeleted:
		return true
	}
	return false
}

// Terminal reports whether s is settled (everything but pending and
// scanning, and any unknown value).
func (s UploadStatus) Terminal() bool { return s != UploadPending && s != UploadScanning }

// Client codes of upload errors.
const (
	CodeUploadNotAccepted     = "upload_not_accepted"      // download of an upload that is not accepted
	CodeUploadMismatch        = "upload_mismatch"          // the stored object's size or type is not the declared one
	CodeUploadNotPending      = "upload_not_pending"       // complete of an upload that is past pending
	CodeUploadStateConflict   = "upload_state_conflict"    // a transition not allowed from the current status
	CodeUploadNotDue          = "upload_not_due"           // expiry before the grace period is over
	CodeContentTypeNotAllowed = "content_type_not_allowed" // declared type malformed or not on the allowlist
	CodeFileTooLarge          = "file_too_large"           // declared size above the policy's maximum
	CodeInvalidUpload         = "invalid_upload"           // size or checksum malformed
	CodeFilenameTypeMismatch  = "filename_type_mismatch"   // the file name's extension contradicts the declared type
)

// Upload defaults.
const (
	// DefaultUploadMaxSizeBytes is the default largest upload, 25 MiB.
	DefaultUploadMaxSizeBytes = 25 << 20
	// DefaultUploadPendingGrace is how long an upload may stay pending
	// before the reconciler expires it: well past the presigned PUT's
	// validity (minutes) plus the time a slow client needs to call complete.
	DefaultUploadPendingGrace = time.Hour
)

// UploadPolicy is what uploads may be: how large and of which types.
type UploadPolicy struct {
	MaxSizeBytes int64
	// AllowedContentTypes must all be checkable (see SniffableContentTypes):
	// a type whose bytes cannot be checked is never accepted.
	AllowedContentTypes []string
}

// DefaultUploadPolicy allows 25 MiB of images, PDF and plain text. Archives
// are left out on purpose (OWASP: a zip cannot be scanned for what it will
// become once expanded); add them knowingly.
func DefaultUploadPolicy() UploadPolicy {
	return UploadPolicy{
		MaxSizeBytes:        DefaultUploadMaxSizeBytes,
		AllowedContentTypes: []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"},
	}
}

// Validate returns a KindInternal error (a configuration bug) unless the
// size limit is positive and every allowed type is checkable.
func (p UploadPolicy) Validate() error {
	if p.MaxSizeBytes <= 0 {
		return Wrap(KindInternal, "domain.UploadPolicy", errors.New("maximum upload size must be positive"))
	}
	if len(p.AllowedContentTypes) == 0 {
		return Wrap(KindInternal, "domain.UploadPolicy", errors.New("no content type is allowed"))
	}
	for _, ct := range p.AllowedContentTypes {
		if !IsSniffable(ct) {
			return Wrap(KindInternal, "domain.UploadPolicy", errors.New("content type "+ct+" cannot be checked by its bytes, so it cannot be allowed"))
		}
	}
	return nil
}

func (p UploadPolicy) allows(ct string) bool {
	for _, a := range p.AllowedContentTypes {
		if n, err := NormalizeContentType(a); err == nil && n == ct {
			return true
		}
	}
	return false
}

// ObjectInfo is what the object store reports about a stored object (a HEAD).
type ObjectInfo struct {
	Bucket      string
	Key         string
	VersionID   string
	ETag        string
	ContentType string
	SizeBytes   int64
}

// Upload is one file a user uploads: declared first, PUT by the client
// straight into the quarantine area under a server-generated key, scanned,
// and only then accepted. See UploadStatus for the life cycle.
type Upload struct {
	ID      string
	OwnerID string
	// Filename is the sanitised display name (SanitizeFilename); storage
	// never uses it.
	Filename    string
	ContentType string // normalised, on the policy's allowlist
	SizeBytes   int64
	SHA256      string // optional, lower-case hex
	// Bucket and Key locate the quarantine object; the key is generated by
	// the server and is the upload's identity in scan verdicts.
	Bucket string
	Key    string
	Status UploadStatus
	// VersionID and ETag identify the object version recorded at complete
	// (ETag without quotes); only a verdict about that version can settle
	// the upload.
	VersionID string
	ETag      string
	// Verdict is the scan verdict matched to this upload: a clean one that
	// arrived while pending (kept until complete), or the one the upload was
	// settled on. Nil when none.
	Verdict *ScanVerdict
	// Scan is what the user sees about the scan; nil until settled.
	Scan        *ScanResult
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time // when complete recorded the object
}

// NewUploadParams are the inputs of NewUpload: the client's declaration and
// the server-chosen identity and location.
type NewUploadParams struct {
	ID          string
	OwnerID     string
	Bucket      string
	Key         string
	Filename    string
	ContentType string
	SizeBytes   int64
	SHA256      string
}

// NewUpload validates a declared upload against the policy and returns it
// pending. The filename is sanitised for display; the content type is
// normalised and must be allowed; the size must be 1 to MaxSizeBytes; the
// optional SHA-256 must be 64 hex digits; a file name extension, if any, must
// fit the type (so "x.png.exe" declared as image/png is refused).
//
// Client mistakes are one KindInvalid error listing every bad field; its code
// is that of the first (CodeContentTypeNotAllowed, CodeFileTooLarge,
// CodeInvalidUpload, CodeFilenameTypeMismatch). Missing server-side values
// or an invalid policy are KindInternal.
func NewUpload(p NewUploadParams, policy UploadPolicy, now time.Time) (Upload, error) {
	if p.ID == "" || p.OwnerID == "" || p.Bucket == "" || p.Key == "" {
		return Upload{}, Wrap(KindInternal, "domain.NewUpload", errors.New("id, owner, bucket and key are required"))
	}
	if err := policy.Validate(); err != nil {
		return Upload{}, err
	}
	var (
		code   string
		fields []FieldError
	)
	bad := func(c, loc, msg string) {
		if code == "" {
			code = c
		}
		fields = append(fields, FieldError{Location: loc, Message: msg})
	}

	ct, err := NormalizeContentType(p.ContentType)
	switch {
	case err != nil:
		bad(CodeContentTypeNotAllowed, "body.content_type", "The content type is not a valid media type.")
	case !policy.allows(ct):
		bad(CodeContentTypeNotAllowed, "body.content_type", "This type of file is not accepted. Allowed: "+strings.Join(policy.AllowedContentTypes, ", ")+".")
	}
	switch {
	case p.SizeBytes <= 0:
		bad(CodeInvalidUpload, "body.size_bytes", "The size must be at least 1 byte.")
	case p.SizeBytes > policy.MaxSizeBytes:
		bad(CodeFileTooLarge, "body.size_bytes", "The file is too large.")
	}
	sum := strings.ToLower(strings.TrimSpace(p.SHA256))
	if sum != "" {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			bad(CodeInvalidUpload, "body.sha256", "The SHA-256 must be 64 hexadecimal digits.")
		}
	}
	name := SanitizeFilename(p.Filename)
	if err == nil && policy.allows(ct) && !extensionFits(name, ct) {
		bad(CodeFilenameTypeMismatch, "body.filename", "The file name's extension does not match the declared content type.")
	}
	if len(fields) > 0 {
		return Upload{}, &Error{Kind: KindInvalid, Code: code, Op: "domain.NewUpload", Msg: "The upload is not valid.", Fields: fields}
	}
	now = now.UTC()
	return Upload{
		ID:          p.ID,
		OwnerID:     p.OwnerID,
		Filename:    name,
		ContentType: ct,
		SizeBytes:   p.SizeBytes,
		SHA256:      sum,
		Bucket:      p.Bucket,
		Key:         p.Key,
		Status:      UploadPending,
		CreatedAt:   now,
		UpdatedAt:   now,
	}, nil
}

// ours reports whether bucket and key name this upload's object.
func (u *Upload) ours(bucket, key string) bool { return bucket == u.Bucket && key == u.Key }

// isRecorded reports whether versionID and etag name the object version
// recorded at complete. An upload with no recorded ETag matches nothing.
func (u *Upload) isRecorded(versionID, etag string) bool {
	e := NormalizeETag(etag)
	return e != "" && e == NormalizeETag(u.ETag) && normVersion(versionID) == normVersion(u.VersionID)
}

// Complete records the object the client says it has uploaded, as the
// object store reports it, and moves a pending upload to scanning.
//
// The object must be this upload's bucket and key, of exactly the declared
// size and content type, else a KindInvalid CodeUploadMismatch error and the
// upload stays pending (the client may PUT again while its URL is valid).
// An object without an ETag cannot be matched to a verdict: KindInternal.
// Its version and ETag are recorded; from then on only a verdict about that
// version can settle the upload.
//
// If a clean verdict for exactly that version arrived while pending, the
// decision is ActionPromote; otherwise it is ActionSave and any early verdict
// about another version is dropped. Completing a scanning upload again with
// the recorded object is ignored as a duplicate; any other complete of an
// upload that is not pending is a KindConflict CodeUploadNotPending error.
func (u *Upload) Complete(obj ObjectInfo, now time.Time) (Decision, error) {
	declared := u.ours(obj.Bucket, obj.Key) && obj.SizeBytes == u.SizeBytes
	if ct, err := NormalizeContentType(obj.ContentType); err != nil || ct != u.ContentType {
		declared = false
	}
	if u.Status != UploadPending {
		if u.Status == UploadScanning && declared && u.isRecorded(obj.VersionID, obj.ETag) {
			return ignore(IgnoreDuplicate), nil
		}
		return Decision{}, &Error{Kind: KindConflict, Code: CodeUploadNotPending, Op: "domain.Upload.Complete",
			Msg: "This upload is no longer waiting for its file."}
	}
	if !declared {
		return Decision{}, &Error{Kind: KindInvalid, Code: CodeUploadMismatch, Op: "domain.Upload.Complete",
			Msg: "The uploaded file does not match the declared size or content type."}
	}
	etag := NormalizeETag(obj.ETag)
	if etag == "" {
		return Decision{}, Wrap(KindInternal, "domain.Upload.Complete", errors.New("object store reported no ETag"))
	}
	now = now.UTC()
	u.VersionID, u.ETag = obj.VersionID, etag
	u.Status = UploadScanning
	u.CompletedAt = &now
	u.UpdatedAt = now
	if u.Verdict != nil && u.Verdict.Clean() && u.isRecorded(u.Verdict.VersionID, u.Verdict.ETag) {
		return Decision{Action: ActionPromote, Verdict: *u.Verdict.clone()}, nil
	}
	u.Verdict = nil
	return Decision{Action: ActionSave}, nil
}

// DecideVerdict applies a scan verdict and says what the caller must do.
// It never accepts by itself: acceptance takes ActionPromote and then
// MarkAccepted. The rules, which fail closed:
//
//   - A verdict for another bucket or key is ignored (IgnoreUnknownObject).
//   - Pending (no object recorded yet): a clean verdict is remembered
//     (ActionSave; the same one again is IgnoreDuplicate) and promotes at
//     complete if it is about the version then recorded. A verdict that is
//     not clean, about any version of the key, settles the upload at once:
//     infected → rejected (ActionReject), anything else → failed
//     (ActionFail). The key is the upload's own, so whatever was put there
//     was put by its owner; they can upload again.
//   - Scanning: a verdict about another version or ETag than the recorded
//     one is ignored (IgnoreOtherVersion), so a replaced object is never
//     accepted on an old verdict. About the recorded one: clean →
//     ActionPromote (again on redelivery: promotion is idempotent and the
//     status only changes at MarkAccepted), infected → rejected, anything
//     else → failed.
//   - Accepted: THREATS_FOUND about the recorded object (a later rescan
//     found malware) rejects it (ActionReject: delete the accepted copy too);
//     the same clean verdict again is IgnoreDuplicate; anything else is
//     IgnoreTerminal.
//   - Rejected, failed, expired, deleted: IgnoreDuplicate when it repeats
//     the verdict the upload was settled on, else IgnoreTerminal.
//
// Rejecting and failing change the upload here (status, Verdict, Scan) so
// that no later clean verdict can undo them; the caller saves the upload and
// deletes the object. Unknown result values and NO_THREATS_FOUND without
// scan status COMPLETED count as not clean.
func (u *Upload) DecideVerdict(v ScanVerdict, now time.Time) Decision {
	if !u.ours(v.Bucket, v.Key) {
		return ignore(IgnoreUnknownObject)
	}
	now = now.UTC()
	switch u.Status {
	case UploadPending:
		if v.Clean() {
			if u.Verdict != nil && sameVerdict(*u.Verdict, v) {
				return ignore(IgnoreDuplicate)
			}
			u.Verdict = v.clone()
			u.UpdatedAt = now
			return Decision{Action: ActionSave, Verdict: *v.clone()}
		}
		return u.settle(v, now)
	case UploadScanning:
		if !u.isRecorded(v.VersionID, v.ETag) {
			return ignore(IgnoreOtherVersion)
		}
		if v.Clean() {
			u.Verdict = v.clone()
			return Decision{Action: ActionPromote, Verdict: *v.clone()}
		}
		return u.settle(v, now)
	case UploadAccepted:
		if v.Class() == VerdictInfected && u.isRecorded(v.VersionID, v.ETag) {
			return u.settle(v, now)
		}
	}
	if u.Verdict != nil && sameVerdict(*u.Verdict, v) {
		return ignore(IgnoreDuplicate)
	}
	return ignore(IgnoreTerminal)
}

// settle rejects or fails the upload on a verdict that is not clean.
func (u *Upload) settle(v ScanVerdict, now time.Time) Decision {
	u.Verdict = v.clone()
	u.Scan = resultFor(v, now)
	u.UpdatedAt = now
	if v.Class() == VerdictInfected {
		u.Status = UploadRejected
		return Decision{Action: ActionReject, Verdict: *v.clone()}
	}
	u.Status = UploadFailed
	return Decision{Action: ActionFail, Verdict: *v.clone()}
}

func stateConflict(op string, u *Upload) *Error {
	return &Error{Kind: KindConflict, Code: CodeUploadStateConflict, Op: op,
		Msg: "The upload cannot change from " + string(u.Status) + " that way."}
}

// MarkAccepted accepts a scanning upload after the caller has promoted it
// (see ActionPromote). It requires that the upload's Verdict is clean and
// about the recorded version, which only DecideVerdict or Complete can
// arrange; anything else is a KindConflict CodeUploadStateConflict error and
// changes nothing.
func (u *Upload) MarkAccepted(now time.Time) error {
	if u.Status != UploadScanning || u.Verdict == nil || !u.Verdict.Clean() || !u.isRecorded(u.Verdict.VersionID, u.Verdict.ETag) {
		return stateConflict("domain.Upload.MarkAccepted", u)
	}
	now = now.UTC()
	u.Status = UploadAccepted
	u.Scan = resultFor(*u.Verdict, now)
	u.UpdatedAt = now
	return nil
}

// MarkRejected rejects a pending or scanning upload for a reason found by
// the caller, such as CodeContentTypeMismatch after a clean scan. code should
// be one of the ScanResult codes and reason a sentence fit for the user. Any
// other status is a KindConflict CodeUploadStateConflict error.
func (u *Upload) MarkRejected(now time.Time, code, reason string, threats []string) error {
	return u.markBad("domain.Upload.MarkRejected", UploadRejected, now, code, reason, threats)
}

// MarkFailed fails a pending or scanning upload for a reason found by the
// caller, such as CodeObjectMismatch when the stored object is no longer the
// recorded one. Any other status is a KindConflict CodeUploadStateConflict
// error.
func (u *Upload) MarkFailed(now time.Time, code, reason string) error {
	return u.markBad("domain.Upload.MarkFailed", UploadFailed, now, code, reason, nil)
}

func (u *Upload) markBad(op string, to UploadStatus, now time.Time, code, reason string, threats []string) error {
	if u.Status != UploadPending && u.Status != UploadScanning {
		return stateConflict(op, u)
	}
	now = now.UTC()
	r := &ScanResult{Code: code, Reason: reason, Threats: cleanThreats(threats), CompletedAt: now}
	if u.Verdict != nil {
		r.Result = resultFor(*u.Verdict, now).Result
	}
	u.Status = to
	u.Scan = r
	u.UpdatedAt = now
	return nil
}

// Expire moves an upload that is still pending grace after its creation to
// expired; the caller deletes whatever the client may have put at its key.
// Expiring before then is a KindConflict CodeUploadNotDue error, and expiring
// an upload that is not pending a KindConflict CodeUploadStateConflict error.
// Uploads stuck in scanning are not expired: the reconciler settles them
// from the object's scan tag instead.
func (u *Upload) Expire(now time.Time, grace time.Duration) error {
	if u.Status != UploadPending {
		return stateConflict("domain.Upload.Expire", u)
	}
	if now.Before(u.CreatedAt.Add(grace)) {
		return &Error{Kind: KindConflict, Code: CodeUploadNotDue, Op: "domain.Upload.Expire", Msg: "The upload has not expired yet."}
	}
	u.Status = UploadExpired
	u.UpdatedAt = now.UTC()
	return nil
}

// MarkDeleted deletes the upload from any status; the caller removes its
// objects (quarantine and accepted). Deleting a deleted upload changes
// nothing.
func (u *Upload) MarkDeleted(now time.Time) {
	if u.Status == UploadDeleted {
		return
	}
	u.Status = UploadDeleted
	u.UpdatedAt = now.UTC()
}

// DownloadAllowed returns nil only for an accepted upload, and a KindConflict
// CodeUploadNotAccepted error for every other status.
func (u *Upload) DownloadAllowed() error {
	if u.Status == UploadAccepted {
		return nil
	}
	return &Error{Kind: KindConflict, Code: CodeUploadNotAccepted, Op: "domain.Upload.DownloadAllowed",
		Msg: "The file can be downloaded once it has been scanned and accepted."}
}
