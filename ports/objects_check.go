package ports

import (
	"crypto/sha256"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/domain"
)

// The argument rules of ObjectStore, checked before any request is made.

func invalidArg(op, why string) error {
	return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: why}
}

// CheckObjectKey refuses keys S3 would refuse or treat surprisingly: empty,
// longer than 1024 bytes, not UTF-8, with control characters, or with an
// empty, "." or ".." segment (which URLs may collapse).
func CheckObjectKey(op, key string) error {
	switch {
	case key == "" || len(key) > 1024:
		return invalidArg(op, "object key must be 1 to 1024 bytes")
	case !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl):
		return invalidArg(op, "object key must be UTF-8 without control characters")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidArg(op, `object key must not have empty, "." or ".." segments`)
		}
	}
	return nil
}

// checkAreaKey is CheckObjectKey that also requires key to lie under prefix.
func checkAreaKey(op, key, prefix string) error {
	if !strings.HasPrefix(key, prefix) || len(key) == len(prefix) {
		return invalidArg(op, "object key is outside the area this request may target")
	}
	return CheckObjectKey(op, key)
}

func checkContentType(op, contentType string) error {
	if len(contentType) > 255 {
		return invalidArg(op, "content type is longer than 255 bytes")
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil || strings.ContainsFunc(contentType, unicode.IsControl) {
		return invalidArg(op, "content type is not a valid media type")
	}
	return nil
}

func checkPresignExpiry(op string, expires time.Duration) error {
	if expires < time.Second || expires > MaxPresignExpiry {
		return invalidArg(op, "expiry must be between one second and MaxPresignExpiry")
	}
	return nil
}

// CheckPutRequest refuses, as a domain.KindInvalid error naming op, a
// presign request for a key outside prefix or an invalid key, content type,
// size, digest or expiry. Every ObjectStore makes this check before doing
// anything, so fakes and real stores refuse the same requests.
func CheckPutRequest(op string, req PutRequest, prefix string, expires time.Duration) error {
	if err := checkAreaKey(op, req.Key, prefix); err != nil {
		return err
	}
	if err := checkContentType(op, req.ContentType); err != nil {
		return err
	}
	switch {
	case req.Size < 1 || req.Size > MaxPutSize:
		return invalidArg(op, "size must be between 1 byte and MaxPutSize")
	case req.SHA256 != nil && len(req.SHA256) != sha256.Size:
		return invalidArg(op, "SHA-256 digest must be 32 bytes")
	}
	return checkPresignExpiry(op, expires)
}

// CheckGetRequest is CheckPutRequest for presigned downloads.
func CheckGetRequest(op string, req GetRequest, prefix string, expires time.Duration) error {
	if err := checkAreaKey(op, req.Key, prefix); err != nil {
		return err
	}
	if err := checkContentType(op, req.ContentType); err != nil {
		return err
	}
	return checkPresignExpiry(op, expires)
}

// CheckReadLeading refuses an invalid key, or a length outside 1 to
// MaxReadLeading, for ReadLeading.
func CheckReadLeading(op, key string, n int) error {
	if err := CheckObjectKey(op, key); err != nil {
		return err
	}
	if n < 1 || n > MaxReadLeading {
		return invalidArg(op, "n must be between 1 and ports.MaxReadLeading")
	}
	return nil
}
