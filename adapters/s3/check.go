package s3

import (
	"crypto/sha256"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// The checks below run before any request is made. The in-memory fake makes
// the same ones, and the contract suite holds both to them.

func invalid(op, why string) error {
	return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: why}
}

// checkObjectKey refuses keys S3 would refuse or treat surprisingly: empty,
// longer than 1024 bytes, not UTF-8, with control characters, or with an
// empty, "." or ".." segment (which URLs may collapse).
func checkObjectKey(op, key string) error {
	switch {
	case key == "" || len(key) > 1024:
		return invalid(op, "object key must be 1 to 1024 bytes")
	case !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl):
		return invalid(op, "object key must be UTF-8 without control characters")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalid(op, `object key must not have empty, "." or ".." segments`)
		}
	}
	return nil
}

// checkAreaKey also requires key to lie under prefix.
func checkAreaKey(op, key, prefix string) error {
	if !strings.HasPrefix(key, prefix) || len(key) == len(prefix) {
		return invalid(op, "object key is outside the area this request may target")
	}
	return checkObjectKey(op, key)
}

func checkContentType(op, contentType string) error {
	if len(contentType) > 255 {
		return invalid(op, "content type is longer than 255 bytes")
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil || strings.ContainsFunc(contentType, unicode.IsControl) {
		return invalid(op, "content type is not a valid media type")
	}
	return nil
}

func checkPresignExpiry(op string, expires time.Duration) error {
	if expires < time.Second || expires > ports.MaxPresignExpiry {
		return invalid(op, "expiry must be between one second and ports.MaxPresignExpiry")
	}
	return nil
}

func checkPutRequest(op string, req ports.PutRequest, prefix string, expires time.Duration) error {
	if err := checkAreaKey(op, req.Key, prefix); err != nil {
		return err
	}
	if err := checkContentType(op, req.ContentType); err != nil {
		return err
	}
	switch {
	case req.Size < 1 || req.Size > ports.MaxPutSize:
		return invalid(op, "size must be between 1 byte and ports.MaxPutSize")
	case req.SHA256 != nil && len(req.SHA256) != sha256.Size:
		return invalid(op, "SHA-256 digest must be 32 bytes")
	}
	return checkPresignExpiry(op, expires)
}

func checkGetRequest(op string, req ports.GetRequest, prefix string, expires time.Duration) error {
	if err := checkAreaKey(op, req.Key, prefix); err != nil {
		return err
	}
	if err := checkContentType(op, req.ContentType); err != nil {
		return err
	}
	return checkPresignExpiry(op, expires)
}
