package ports

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ScanStatusTag is the object tag with which GuardDuty Malware Protection
// for S3 records its verdict (NO_THREATS_FOUND, THREATS_FOUND, UNSUPPORTED,
// ACCESS_DENIED or FAILED) on the object version it scanned.
const ScanStatusTag = "GuardDutyMalwareScanStatus"

// Limits every ObjectStore applies to its arguments.
const (
	// MaxPresignExpiry is the longest validity of a presigned request
	// (SigV4's limit).
	MaxPresignExpiry = 7 * 24 * time.Hour
	// MaxPutSize is the largest object one presigned PUT may carry
	// (S3's single-request limit, 5 GiB).
	MaxPutSize = 5 << 30
	// MaxReadLeading is the most bytes ReadLeading returns in one call: it is
	// meant for the first bytes of a file (magic numbers), never for a whole
	// upload.
	MaxReadLeading = 1 << 20
)

// PutRequest describes the one object a presigned PUT may create.
type PutRequest struct {
	// Key is the server-generated key of the object; it must lie under the
	// store's upload (quarantine) prefix.
	Key string
	// ContentType is the declared media type; the client must send exactly
	// this Content-Type.
	ContentType string
	// Size is the exact length in bytes of the body the client must send
	// (1 to MaxPutSize).
	Size int64
	// SHA256, when not nil, is the 32-byte SHA-256 digest the client declared
	// for the body; the store then refuses a body with another digest.
	SHA256 []byte
}

// GetRequest describes a presigned download.
type GetRequest struct {
	// Key is the object's key; it must lie under the store's download
	// (accepted) prefix.
	Key string
	// VersionID pins the download to one version; "" is the current one.
	VersionID string
	// Filename is offered to the browser as the name to save the file
	// under, in an attachment Content-Disposition (see AttachmentDisposition).
	Filename string
	// ContentType is the validated media type sent as the response's
	// Content-Type, whatever the stored object says.
	ContentType string
}

// PresignedRequest is an HTTP request the client can send, without
// credentials, until ExpiresAt.
type PresignedRequest struct {
	Method string
	URL    string
	// Headers lists every header the client must send with exactly these
	// values besides Host and Content-Length; a request without them, or
	// with other values, is refused. Content-Length is signed too (for a PUT,
	// the exact size declared): HTTP clients derive it from the body, and
	// browsers refuse to set it by hand, so it is not listed.
	Headers   map[string]string
	ExpiresAt time.Time
}

// ObjectInfo is what the store reports about one version of an object.
type ObjectInfo struct {
	Bucket    string
	Key       string
	VersionID string // "" when the bucket is not versioned
	// ETag is the entity tag without the surrounding quotes.
	ETag         string
	Size         int64
	ContentType  string
	LastModified time.Time
}

// ObjectStore keeps the uploaded bytes: a versioned bucket with an upload
// (quarantine) prefix clients write to through presigned PUTs and a download
// (accepted) prefix they read from through presigned GETs. Bytes never pass
// through the API. Every method that takes a versionID acts on exactly that
// version, or on the current one when versionID is "", so that a verdict
// about one version is never applied to another.
//
// Errors are *domain.Error values of these kinds:
//   - domain.KindInvalid: the arguments break a rule stated below (a bug in
//     the caller, or unchecked input); nothing was sent to the store.
//   - domain.KindNotFound: the object, or that version of it, does not exist
//     (or its current version is a delete marker).
//   - domain.KindUnavailable: the store is throttling, failing (5xx), slow
//     (the adapter's request timeout) or unreachable, or ctx is done (the
//     error then wraps ctx.Err()); retrying later may succeed.
//   - domain.KindInternal: anything else, notably access denied, a missing
//     bucket or bad credentials: an operator must act.
type ObjectStore interface {
	// PresignPut returns a PUT that creates req.Key with exactly req.Size
	// bytes of req.ContentType (and, with req.SHA256, exactly those bytes),
	// valid for expires (1s to MaxPresignExpiry). Content-Length,
	// Content-Type and the checksum are part of the signature: a PUT with
	// another length or type is refused (403), as is a body whose SHA-256
	// differs from req.SHA256 (400). A key outside the upload prefix, an
	// empty or malformed content type, a size outside 1..MaxPutSize or a
	// digest that is not 32 bytes are domain.KindInvalid.
	PresignPut(ctx context.Context, req PutRequest, expires time.Duration) (PresignedRequest, error)

	// Head reports on one version of the object.
	Head(ctx context.Context, key, versionID string) (ObjectInfo, error)

	// ReadLeading returns the first n bytes (1..MaxReadLeading) of one
	// version of the object, or all of them if it is shorter.
	ReadLeading(ctx context.Context, key, versionID string, n int) ([]byte, error)

	// Copy copies exactly one version of srcKey (the current one when
	// srcVersionID is "") to dstKey, with its content type, and returns what
	// was created. The copy carries no tags.
	Copy(ctx context.Context, srcKey, srcVersionID, dstKey string) (ObjectInfo, error)

	// Delete removes the object under key for good: every version and every
	// delete marker. A key that does not exist is not an error. Keys that
	// merely start with key are untouched.
	Delete(ctx context.Context, key string) error

	// ScanTag returns the value of the ScanStatusTag tag of one version of
	// the object, or "" when it has none.
	ScanTag(ctx context.Context, key, versionID string) (string, error)

	// SetScanTag sets the ScanStatusTag tag of one version of the object to
	// value, keeping its other tags. Only the local development scanner,
	// which stands in for GuardDuty, calls it: in production GuardDuty alone
	// may write that tag (the bucket policy denies it to everyone else).
	SetScanTag(ctx context.Context, key, versionID, value string) error

	// PresignGet returns a GET of one version of req.Key, valid for expires
	// (1s to MaxPresignExpiry), whose response carries Content-Type
	// req.ContentType and Content-Disposition
	// AttachmentDisposition(req.Filename). A key outside the download prefix
	// or an empty or malformed content type is domain.KindInvalid.
	PresignGet(ctx context.Context, req GetRequest, expires time.Duration) (PresignedRequest, error)
}

// fallbackFilename names a download whose name has nothing left to show.
const fallbackFilename = "file"

// AttachmentDisposition returns the Content-Disposition value with which
// downloads are offered (RFC 6266, with the RFC 5987 extended parameter):
//
//	attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded UTF-8>
//
// Control characters, format characters (bidirectional overrides, zero
// widths), line and paragraph separators and invalid UTF-8 are dropped from
// both forms. The
// fallback, for old user agents, also loses quotes, backslashes and '%'
// (which some agents decode), and every non-ASCII character becomes '_'.
// The result never contains a control character, so it cannot split a
// header, and mime.ParseMediaType reads back the cleaned name.
func AttachmentDisposition(filename string) string {
	var fallback, encoded strings.Builder
	const upperhex = "0123456789ABCDEF"
	for i, r := range filename {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(filename[i:]); size == 1 {
				continue // invalid UTF-8
			}
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			continue // control, bidirectional and zero-width characters, line breaks
		}
		switch {
		case r > unicode.MaxASCII:
			fallback.WriteByte('_')
		case r == '"' || r == '\\' || r == '%':
		default:
			fallback.WriteRune(r)
		}
		var buf [utf8.UTFMax]byte
		for _, b := range buf[:utf8.EncodeRune(buf[:], r)] {
			if isAttrChar(b) {
				encoded.WriteByte(b)
				continue
			}
			encoded.WriteByte('%')
			encoded.WriteByte(upperhex[b>>4])
			encoded.WriteByte(upperhex[b&0x0f])
		}
	}
	fb, enc := strings.TrimSpace(fallback.String()), encoded.String()
	if fb == "" {
		fb = fallbackFilename
	}
	if enc == "" {
		enc = fallbackFilename
	}
	return `attachment; filename="` + fb + `"; filename*=UTF-8''` + enc
}

// isAttrChar reports whether b may appear unencoded in an RFC 5987 value
// (attr-char).
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
